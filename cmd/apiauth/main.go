// Command apiauth manages the API keys and OAuth clients that apiauth
// servers keep in a database (package sqlstore): it creates, lists,
// rotates and revokes keys, registers clients, and creates or upgrades
// the schema. It is how an empty production database gets its first admin
// key without writing code.
//
// Usage:
//
//	apiauth [-db sqlite:PATH|postgres://…] <command> [flags]
//
//	apiauth -db … keys create -tenant T [-subject S] [-scopes read,write,admin] [-tier TIER]
//	                          [-name N] [-expires RFC3339|DURATION] [-prefix sk_live]
//	apiauth -db … keys list -tenant T [-json]
//	apiauth -db … keys rotate -id ID [-grace 24h] [-prefix sk_live]
//	apiauth -db … keys revoke -id ID
//	apiauth -db … clients register -id ID -tenant T [-subject S] [-scopes …] [-tier TIER]
//	apiauth -db … migrate
//
// -db takes the syntax of apiauth-demo's: sqlite:PATH or a postgres:// URL;
// without it, the APIAUTH_DB environment variable names the database.
// Every command first creates or upgrades the schema, which is safe from
// many instances at once.
//
// A new key or client secret is printed once, on stdout, alone on its
// line, so that KEY=$(apiauth … keys create …) captures it; everything
// meant for people goes to stderr. Only SHA-256 digests are stored, and no
// key or secret ever appears in a message.
//
// Exit status: 0 done, 1 failed (the database, a key or client not found),
// 2 bad usage (an unknown command or flag, a missing -tenant), with one
// line on stderr naming the flag. Each command has -h. README.md beside
// this file has examples, and the recipe for a first admin key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apiauth/apiauth/internal/dbflag"
	"github.com/apiauth/apiauth/sqlstore"
)

// Exit codes of run.
const (
	exitOK     = 0 // done, or -h
	exitFailed = 1 // the database failed, or a key or client was not found
	exitUsage  = 2 // bad flags, an unknown command, a missing -tenant
)

// main runs the command line until it is done or interrupted and exits
// with run's code.
func main() {
	// A closed stdout is then an error that run sees, not a silent death
	// by SIGPIPE: a key stored but never printed is revoked rather than
	// left behind.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is an error of the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// env is what a command runs with.
type env struct {
	stdout, stderr io.Writer
	// db is the -db flag, or APIAUTH_DB.
	db string
	// now returns the current time.
	now func() time.Time
}

// open parses the -db value and opens the database it names, migrated.
func (e *env) open(ctx context.Context, create bool) (*database, error) {
	spec, err := parseDB(e.db)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	return openDB(ctx, spec, create)
}

// command is one command of the CLI.
type command struct {
	// name is the command's words, such as "keys create".
	name string
	// synopsis lists its flags, as the usage line shows them.
	synopsis string
	// summary says what it does, in a few words, for the command list.
	summary string
	// help says more, in the command's -h, before its flags.
	help string
	// setup defines the command's flags on fs and returns the function
	// that runs it once they are parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
}

// commands are the CLI's commands, in the order -h lists them.
var commands = []*command{
	keysCreate, keysList, keysRotate, keysRevoke, clientsRegister, migrateCmd,
}

// run is the whole program: it runs the command args name and returns the
// exit code. stdout gets what a script reads (a new key or secret, alone
// on its line; a listing); stderr gets messages for people.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fail := func(code int, prefix string, err error) int {
		fmt.Fprintf(stderr, "%s: %s\n", prefix, dbflag.OneLine(err.Error()))
		return code
	}
	global := flag.NewFlagSet("apiauth", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	dbFlag := global.String("db", "", "")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		return fail(exitUsage, "apiauth", fmt.Errorf(`%v (run "apiauth -h" for usage)`, err))
	}
	cmd, rest, err := findCommand(global.Args())
	if errors.Is(err, flag.ErrHelp) {
		printGroupUsage(stdout, global.Arg(0))
		return exitOK
	}
	if err != nil {
		return fail(exitUsage, "apiauth", err)
	}
	prefix := "apiauth " + cmd.name
	fs := flag.NewFlagSet(prefix, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	action := cmd.setup(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(stdout, cmd, fs)
			return exitOK
		}
		if strings.HasSuffix(err.Error(), "-db") {
			err = fmt.Errorf("-db goes before the command: apiauth -db URL %s …", cmd.name)
		}
		return fail(exitUsage, prefix, fmt.Errorf(`%v (run "%s -h" for usage)`, err, prefix))
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, prefix, fmt.Errorf(`unexpected argument %q (run "%s -h" for usage)`, fs.Arg(0), prefix))
	}
	e := &env{stdout: stdout, stderr: stderr, db: *dbFlag, now: time.Now}
	if e.db == "" {
		e.db = os.Getenv(dbEnv)
	}
	if err := action(ctx, e); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return fail(exitUsage, prefix, fmt.Errorf(`%v (run "%s -h" for usage)`, err, prefix))
		}
		return fail(exitFailed, prefix, err)
	}
	return exitOK
}

// groups are the first words of the commands that have a second.
var groups = []string{"keys", "clients"}

// findCommand returns the command args start with and the arguments after
// its name. It returns flag.ErrHelp for a group's -h ("keys -h").
func findCommand(args []string) (*command, []string, error) {
	if len(args) == 0 {
		return nil, nil, errors.New(`missing command: keys, clients or migrate (run "apiauth -h" for usage)`)
	}
	first := args[0]
	for _, c := range commands {
		if c.name == first {
			return c, args[1:], nil
		}
	}
	isGroup := false
	for _, g := range groups {
		isGroup = isGroup || g == first
	}
	if !isGroup {
		return nil, nil, fmt.Errorf(`unknown command %q: want keys, clients or migrate (run "apiauth -h" for usage)`, first)
	}
	subs := subcommands(first)
	if len(args) == 1 {
		return nil, nil, fmt.Errorf(`%s: missing command: %s (run "apiauth %s -h" for usage)`, first, orList(subs), first)
	}
	switch args[1] {
	case "-h", "-help", "--help", "help":
		return nil, nil, flag.ErrHelp
	}
	for _, c := range commands {
		if c.name == first+" "+args[1] {
			return c, args[2:], nil
		}
	}
	return nil, nil, fmt.Errorf(`%s: unknown command %q: want %s (run "apiauth %s -h" for usage)`, first, args[1], orList(subs), first)
}

// subcommands returns the second words of group's commands.
func subcommands(group string) []string {
	var out []string
	for _, c := range commands {
		if sub, ok := strings.CutPrefix(c.name, group+" "); ok {
			out = append(out, sub)
		}
	}
	return out
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// dbUsage describes -db, in every command's -h.
const dbUsage = `  -db URL
    	the database: sqlite:PATH (a SQLite file) or a postgres:// URL, as
    	apiauth-demo's -db. Default: $APIAUTH_DB
`

// printUsage prints the program's -h.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: apiauth [-db sqlite:PATH|postgres://…] <command> [flags]

Manages the API keys and OAuth clients that apiauth servers keep in a
database. Every command first creates or upgrades the schema. A new key or
secret is printed once, on stdout, alone on its line; messages go to
stderr. Only SHA-256 digests are stored.

commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-17s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nflags, before the command:\n"+dbUsage+`
Run "apiauth <command> -h" for a command's flags.
Exit status: 0 done, 1 failed (database, not found), 2 bad usage.
`)
}

// printGroupUsage prints a group's -h ("apiauth keys -h").
func printGroupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: apiauth [-db URL] %s <command> [flags]\n\ncommands:\n", group)
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			fmt.Fprintf(w, "  %-17s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nRun \"apiauth %s <command> -h\" for a command's flags.\n", group)
}

// printCommandUsage prints a command's -h.
func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("apiauth [-db URL] "+c.name+" "+c.synopsis), c.help)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "flags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "before the command:\n"+dbUsage)
}

// migrateCmd is "apiauth migrate".
var migrateCmd = &command{
	name:    "migrate",
	summary: "create or upgrade the schema",
	help: `Creates the schema in an empty database, or upgrades it, and prints the
schema version on stderr. Safe to run from many instances at once; the
other commands migrate first too.
`,
	setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
		return func(ctx context.Context, e *env) error {
			db, err := e.open(ctx, true)
			if err != nil {
				return err
			}
			defer db.Close()
			fmt.Fprintf(e.stderr, "schema of %s at version %d\n", db.display, sqlstore.SchemaVersion())
			return nil
		}
	},
}
