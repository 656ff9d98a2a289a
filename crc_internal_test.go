package apiauth

import (
	"hash/crc32"
	"testing"
)

func TestCRC32StringAgreesWithStdlib(t *testing.T) {
	s := ""
	for i := 0; i < 100; i++ {
		if got, want := crc32String(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Fatalf("crc32String(%q) = %08x, want %08x", s, got, want)
		}
		s += string(rune('a' + i%26 + (i%3)*0))
		s += string([]byte{byte(i * 37)})
	}
}
