// Command certamen-ferretdb runs FerretDB v1 (SQLite backend) as Certamen's local
// MongoDB-protocol server. It embeds FerretDB's public package because
// `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` panics outside
// FerretDB's own checkout (its version file is generated there, not shipped).
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// sqlitePragmas are added to FerretDB's own (WAL journal, busy timeout, no auto-vacuum).
// temp_store(memory): a multi-row INSERT inside a transaction keeps a statement journal
// (the pages it may have to roll back); on disk that is a temporary file written with
// pwrite for every page an insert touches. In memory it costs no system call; it only
// ever serves a rollback, so durability is unchanged (the WAL is still synced on commit).
const sqlitePragmas = "_pragma=temp_store(memory)"

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "host:port to listen on")
	dataDir := flag.String("data-dir", "data", "folder for the SQLite files")
	flag.Parse()

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	// Errors only: FerretDB logs every unsupported command (pymongo's endSessions on
	// each client close) as a warning, which would bury everything else.
	logger := slog.New(deferredAttrs{base: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})})
	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/?" + sqlitePragmas,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go keepIDIndexes(ctx, *dataDir) // reads by _id use an index, as on MongoDB (idindex.go)
	log.Printf("FerretDB listening on %s, data in %s", *listen, *dataDir)
	if err := server.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// deferredAttrs is a slog.Handler that formats the attributes given to Logger.With only
// when a record is written. FerretDB v1 calls With(args...) twice for every SQL
// statement (fsql's debug logging), and slog's text handler formats those attributes,
// every document of an insert quoted, at the With call, even with debug off: 14% of
// FerretDB's CPU under the pipeline's load. Here With only keeps them; the rare record
// that passes the level (an error) gets them formatted then.
type deferredAttrs struct {
	base  slog.Handler
	steps []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h deferredAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

func (h deferredAttrs) Handle(ctx context.Context, record slog.Record) error {
	handler := h.base
	for _, step := range h.steps {
		handler = step(handler)
	}
	return handler.Handle(ctx, record)
}

func (h deferredAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.then(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

func (h deferredAttrs) WithGroup(name string) slog.Handler {
	return h.then(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}

func (h deferredAttrs) then(step func(slog.Handler) slog.Handler) slog.Handler {
	steps := make([]func(slog.Handler) slog.Handler, len(h.steps), len(h.steps)+1)
	copy(steps, h.steps)
	return deferredAttrs{base: h.base, steps: append(steps, step)}
}
