// Command apicount counts the exported names of Go packages: exported top-level
// constants, variables, functions and types, plus the exported methods and struct
// fields of exported types. It prints one line per package directory and a total.
//
//	go run ./internal/apicount ./resilience ./transport
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	dirs := os.Args[1:]
	withFields := len(dirs) > 0 && dirs[0] == "-fields"
	if withFields {
		dirs = dirs[1:]
	}
	if len(dirs) == 0 {
		fmt.Fprintln(os.Stderr, "usage: apicount DIR...")
		os.Exit(2)
	}
	total := 0
	for _, dir := range dirs {
		n, err := count(dir, withFields)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apicount:", err)
			os.Exit(1)
		}
		fmt.Printf("%-28s %4d\n", dir, n)
		total += n
	}
	fmt.Printf("%-28s %4d\n", "total", total)
}

// count returns the exported names of the non-test package in dir.
func count(dir string, withFields bool) (int, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	names := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return 0, err
		}
		if f.Name.Name == "main" {
			continue
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					names[d.Name.Name] = true
				} else if recv := recvName(d.Recv.List[0].Type); ast.IsExported(recv) {
					names[recv+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names[n.Name] = true
							}
						}
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						names[s.Name.Name] = true
						if !withFields {
							continue
						}
						for _, f := range fieldsOf(s.Type) {
							names[s.Name.Name+"."+f] = true
						}
					}
				}
			}
		}
	}
	return len(names), nil
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return ""
}

// fieldsOf lists the exported fields of a struct type or methods of an interface type.
func fieldsOf(e ast.Expr) []string {
	var list *ast.FieldList
	switch t := e.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list = t.Methods
	default:
		return nil
	}
	var out []string
	for _, f := range list.List {
		for _, n := range f.Names {
			if n.IsExported() {
				out = append(out, n.Name)
			}
		}
	}
	return out
}
