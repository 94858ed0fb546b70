package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

// FerretDB v1 reads a filter {_id: <value>} with `WHERE _ferretdb_sjson->'$._id' = ?`,
// but the unique index it keeps for _id is on `_ferretdb_sjson->"_id"`: SQLite matches
// an index only to the same expression, so every read by _id scans the whole
// collection, a cost that grows with the vote log. MongoDB reads _id by its index. This keeps, beside each collection's table, an index on the very
// expression FerretDB queries, so that a read by _id costs what it costs on MongoDB
// (load/bench_redelivery.py). FerretDB does not know the index: it lists, copies and
// drops only its own, and a dropped collection's table takes ours with it.

const (
	// The reserved prefix FerretDB gives its own tables and columns.
	collectionsTable = "_ferretdb_collections"
	idIndexSuffix    = "_certamen_id_lookup"
	idIndexEvery     = time.Second
)

// keepIDIndexes adds the index to every collection of every database in dataDir,
// now and then every idIndexEvery (new databases and collections appear as
// clients write), until ctx ends.
func keepIDIndexes(ctx context.Context, dataDir string) {
	ticker := time.NewTicker(idIndexEvery)
	defer ticker.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dataDir, "*.sqlite"))
		for _, file := range files {
			if err := indexDatabase(ctx, file); err != nil && ctx.Err() == nil {
				log.Printf("certamen-ferretdb: the _id lookup index in %s: %v", file, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// indexDatabase adds the index to the collections of one database file that lack it.
func indexDatabase(ctx context.Context, file string) error {
	// mode=rw: a database dropped since the glob is not created again.
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	lacking, err := tablesWithoutIndex(ctx, db)
	if err != nil {
		return err
	}
	for _, table := range lacking {
		began := time.Now()
		query := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`,
			table+idIndexSuffix, table)
		if _, err := db.ExecContext(ctx, query); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				continue // the collection was dropped meanwhile
			}
			return err
		}
		if took := time.Since(began); took > time.Second {
			log.Printf("certamen-ferretdb: indexed _id of %s in %s in %s", table, file, took.Round(time.Millisecond))
		}
	}
	return nil
}

// tablesWithoutIndex lists the collections' tables that have no lookup index yet.
func tablesWithoutIndex(ctx context.Context, db *sql.DB) ([]string, error) {
	var present int
	row := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, collectionsTable)
	if err := row.Scan(&present); err != nil || present == 0 {
		return nil, err // not a FerretDB database yet
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(
		`SELECT c.table_name FROM %q AS c WHERE NOT EXISTS (
			SELECT 1 FROM sqlite_master AS m WHERE m.type = 'index' AND m.name = c.table_name || ?)`,
		collectionsTable), idIndexSuffix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			return nil, err
		}
		tables = append(tables, table)
	}
	return tables, rows.Err()
}
