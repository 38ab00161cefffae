package envdoc

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-go/gantry/config"
)

// Section is the documentation of one settings struct.
type Section struct {
	// Package is the import path relative to the module root ("." for the root).
	Package string
	// Type is the struct type's name.
	Type string
	// Doc is the first sentence of the type's doc comment.
	Doc string
	// Vars are its variables, in field order. A variable's Default is its envDefault
	// tag or, without one, the "Default X" its field comment states (see
	// DocumentedDefault).
	Vars config.Dump
	// Tagged lists the variables whose default comes from an envDefault tag.
	Tagged []string
}

// skipDir reports directories that are not part of the library's public surface.
func skipDir(rel string) bool {
	base := filepath.Base(rel)
	if rel != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
		return true
	}
	switch base {
	case "examples", "bench", "internal", "testdata", "vendor", "docs", "scripts":
		return true
	}
	return false
}

// Scan parses the Go files of the module rooted at root and returns one Section per
// exported struct type that has at least one field with an `env` tag, sorted by
// package and type.
func Scan(root string) ([]Section, error) {
	var sections []Section
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if skipDir(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		sections = append(sections, scanFile(filepath.ToSlash(filepath.Dir(rel)), f)...)
		return nil
	})
	sort.Slice(sections, func(i, j int) bool {
		if sections[i].Package != sections[j].Package {
			return sections[i].Package < sections[j].Package
		}
		return sections[i].Type < sections[j].Type
	})
	return sections, err
}

func scanFile(pkg string, f *ast.File) []Section {
	var out []Section
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok || !ts.Name.IsExported() {
				continue
			}
			doc := ts.Doc
			if doc == nil {
				doc = gd.Doc
			}
			s := Section{Package: pkg, Type: ts.Name.Name, Doc: firstSentence(doc.Text())}
			for _, field := range st.Fields.List {
				vars, tagged := fieldVars(field)
				s.Vars = append(s.Vars, vars...)
				if tagged {
					s.Tagged = append(s.Tagged, vars[0].Name)
				}
			}
			if len(s.Vars) > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// fieldVars returns the variables of a field, and whether its default comes from an
// envDefault tag.
func fieldVars(field *ast.Field) ([]config.Var, bool) {
	if field.Tag == nil {
		return nil, false
	}
	raw, err := strconv.Unquote(field.Tag.Value)
	if err != nil {
		return nil, false
	}
	tag := reflect.StructTag(raw)
	key, opts, _ := strings.Cut(tag.Get("env"), ",")
	desc := tag.Get("desc")
	if desc == "" {
		desc = strings.Join(strings.Fields(field.Doc.Text()), " ")
	}
	if key == "" || key == "-" {
		if p := tag.Get("envPrefix"); p != "" {
			return []config.Var{{Name: p + "*", Description: fmt.Sprintf("The variables of %s, each prefixed with %s.", typeName(field.Type), p)}}, false
		}
		return nil, false
	}
	def, tagged := tag.Lookup("envDefault")
	if !tagged {
		def = DocumentedDefault(field.Doc.Text())
	}
	v := config.Var{Name: key, Default: def, Description: desc, Secret: tag.Get("secret") == "true"}
	for _, o := range strings.Split(opts, ",") {
		if o == "required" || o == "notEmpty" {
			v.Required = true
		}
	}
	return []config.Var{v}, tagged
}

var defaultRE = regexp.MustCompile(`(?:^|[^A-Za-z])Default (\S+)`)

// DocumentedDefault returns the default a field comment states: X in the first
// "Default X" of the comment (trailing punctuation and Go quotes removed), as in
// "Default 500ms." or `Default ":8080".`. It returns "" when the comment states
// none. X must be written as the environment would give it, since tests load it.
func DocumentedDefault(doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	for _, m := range defaultRE.FindAllStringSubmatch(doc, -1) {
		v := strings.TrimRight(m[1], ".,;:)")
		switch v {
		case "", "is", "the", "to", "value":
			continue // "Default is the deadline given to ...": prose, not a value
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		return v
	}
	return ""
}

func typeName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return typeName(t.X)
	case *ast.SelectorExpr:
		return typeName(t.X) + "." + t.Sel.Name
	}
	return "the nested struct"
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// Markdown renders the sections: a heading per struct, its doc sentence and the
// table of its variables.
func Markdown(sections []Section) string {
	var b bytes.Buffer
	for i, s := range sections {
		if i > 0 {
			b.WriteByte('\n')
		}
		pkg := s.Package
		if pkg == "." {
			pkg = "gantry"
		}
		fmt.Fprintf(&b, "### %s.%s\n\n", pkg, s.Type)
		if s.Doc != "" {
			b.WriteString(s.Doc + "\n\n")
		}
		_ = s.Vars.Markdown(&b) // writing to a bytes.Buffer cannot fail
	}
	return b.String()
}
