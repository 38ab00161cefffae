package sqlitedb_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-go/gantry/examples/internal/sqlitedb"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sqlitedb")
	defer os.RemoveAll(dir)
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "app.db"), sqlitedb.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	err = sqlitedb.Migrate(ctx, db, []sqlitedb.Migration{
		{Version: 1, Name: "counters", SQL: `CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`},
	})
	fmt.Println(err)
	err = sqlitedb.InTx(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO counters (name, n) VALUES ('visits', 1)`)
		return err
	})
	fmt.Println(err)
	_, err = db.ExecContext(ctx, `INSERT INTO counters (name, n) VALUES ('visits', 2)`)
	fmt.Println(sqlitedb.IsUnique(err))
	// Output:
	// <nil>
	// <nil>
	// true
}
