package envtable

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const (
	libModule = "github.com/gantry-go/gantry"
	exModule  = libModule + "/examples"
)

// Spec names a shipped service and the directory of its main package, relative to
// the examples module.
type Spec struct {
	Name, Dir string
}

// Shipped returns the services whose tables docs/examples-config.md holds, in the
// order of the file: the shop's four services and the starter.
func Shipped() []Spec {
	return []Spec{
		{"catalog", "cmd/catalog"},
		{"cart", "cmd/cart"},
		{"payment", "cmd/payment"},
		{"gateway", "cmd/gateway"},
		{"starter", "starter"},
	}
}

// Service is what a service's main package reads from the environment.
type Service struct {
	Spec
	// Doc is the first sentence of the package comment.
	Doc string
	// Vars are the variables of its Config, in the order config.Load walks them.
	Vars []Var
	// Defaults is the map main.go passes to platform.Environ: the service's own
	// defaults, which win over the settings structs'. Nil when it calls no Environ.
	Defaults map[string]string
}

// Var is one variable of a service.
type Var struct {
	// Name is the variable, prefixes included.
	Name string
	// Key is the name in the field's env tag, without the prefixes around it.
	Key string
	// PkgPath and Type name the struct that declares the field.
	PkgPath, Type string
	// Default is the field's envDefault tag or, without one, the "Default X" of its
	// comment (as internal/envdoc reads it for docs/config.md).
	Default string
	// Description is the desc tag or, without one, the field comment.
	Description      string
	Secret, Required bool
}

// Library reports whether the field is declared by the library rather than by the
// examples.
func (v Var) Library() bool {
	return (v.PkgPath == libModule || strings.HasPrefix(v.PkgPath, libModule+"/")) &&
		v.PkgPath != exModule && !strings.HasPrefix(v.PkgPath, exModule+"/")
}

// Section returns the heading of the field's struct as docs/config.md writes it
// ("gantry.Settings", "resilience.RetrySettings"), or "" for an examples type.
func (v Var) Section() string {
	if !v.Library() {
		return ""
	}
	pkg := strings.TrimPrefix(strings.TrimPrefix(v.PkgPath, libModule), "/")
	if pkg == "" {
		pkg = "gantry"
	}
	return pkg + "." + v.Type
}

// Roots are the directories of the examples module and of the library module.
type Roots struct {
	Examples, Library string
}

// FindRoots returns the roots of the examples module at or above dir, and of the
// library module that holds it.
func FindRoots(dir string) (Roots, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Roots{}, err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if modulePath(d) == exModule {
			lib := filepath.Dir(d)
			if modulePath(lib) != libModule {
				return Roots{}, fmt.Errorf("envtable: %s is not the module %s", lib, libModule)
			}
			return Roots{Examples: d, Library: lib}, nil
		}
		if filepath.Dir(d) == d {
			return Roots{}, fmt.Errorf("envtable: no module %s at or above %s", exModule, dir)
		}
	}
}

func modulePath(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1]
		}
	}
	return ""
}

// ScanAll scans every shipped service.
func ScanAll(r Roots) ([]Service, error) {
	s := &scanner{roots: r, pkgs: map[string]*pkg{}}
	var out []Service
	for _, spec := range Shipped() {
		svc, err := s.service(spec)
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	}
	return out, nil
}

// Scan scans one service.
func Scan(r Roots, spec Spec) (Service, error) {
	s := &scanner{roots: r, pkgs: map[string]*pkg{}}
	return s.service(spec)
}

type scanner struct {
	roots Roots
	pkgs  map[string]*pkg // by import path
}

type pkg struct {
	path, name string
	files      []*ast.File
	types      map[string]typeDecl
}

type typeDecl struct {
	expr ast.Expr // the type's definition (a struct, or another named type)
	file *ast.File
}

func (s *scanner) dirOf(importPath string) string {
	switch {
	case importPath == exModule || strings.HasPrefix(importPath, exModule+"/"):
		return filepath.Join(s.roots.Examples, filepath.FromSlash(strings.TrimPrefix(importPath, exModule)))
	case importPath == libModule || strings.HasPrefix(importPath, libModule+"/"):
		return filepath.Join(s.roots.Library, filepath.FromSlash(strings.TrimPrefix(importPath, libModule)))
	}
	return "" // the standard library or a dependency: no settings structs of ours
}

// load parses the package at importPath, or returns nil for one outside the two
// modules.
func (s *scanner) load(importPath string) (*pkg, error) {
	if p, ok := s.pkgs[importPath]; ok {
		return p, nil
	}
	dir := s.dirOf(importPath)
	if dir == "" {
		return nil, nil
	}
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("envtable: %s: %w", importPath, err)
	}
	p := &pkg{path: importPath, name: bp.Name, types: map[string]typeDecl{}}
	fset := token.NewFileSet()
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, f)
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					p.types[ts.Name.Name] = typeDecl{expr: ts.Type, file: f}
				}
			}
		}
	}
	s.pkgs[importPath] = p
	return p, nil
}

// importOf returns the package that name refers to in f.
func (s *scanner) importOf(f *ast.File, name string) (*pkg, error) {
	for _, im := range f.Imports {
		ip, _ := strconv.Unquote(im.Path.Value)
		if im.Name != nil {
			if im.Name.Name == name {
				return s.load(ip)
			}
			continue
		}
		p, err := s.load(ip)
		if err != nil {
			return nil, err
		}
		if p != nil && p.name == name {
			return p, nil
		}
	}
	return nil, nil // outside the modules (or not found): no variables
}

// structOf resolves e, written in file f of package p, to a struct type: the struct
// itself, the package where it is declared and its name ("" for a literal struct).
func (s *scanner) structOf(e ast.Expr, f *ast.File, p *pkg) (*ast.StructType, *ast.File, *pkg, string, error) {
	for range 16 { // named types defined as other named types, and aliases
		switch t := e.(type) {
		case *ast.StructType:
			return t, f, p, "", nil
		case *ast.ParenExpr:
			e = t.X
			continue
		case *ast.Ident:
			d, ok := p.types[t.Name]
			if !ok {
				return nil, nil, nil, "", nil // a predeclared type
			}
			if st, ok := d.expr.(*ast.StructType); ok {
				return st, d.file, p, t.Name, nil
			}
			e, f = d.expr, d.file
			continue
		case *ast.SelectorExpr:
			x, ok := t.X.(*ast.Ident)
			if !ok {
				return nil, nil, nil, "", nil
			}
			q, err := s.importOf(f, x.Name)
			if err != nil || q == nil {
				return nil, nil, nil, "", err
			}
			e, p = ast.NewIdent(t.Sel.Name), q
			continue
		}
		return nil, nil, nil, "", nil // a func, an interface, a map, a generic instance...
	}
	return nil, nil, nil, "", errors.New("envtable: type definitions nest too deep")
}

// walk appends the variables of st, like config.Describe walks a struct (and
// caarlos0/env before it): an env tag makes a variable, an envPrefix adds to the
// names inside, and nested structs (and pointers to them without an env tag) are
// walked.
func (s *scanner) walk(out []Var, st *ast.StructType, f *ast.File, p *pkg, typeName, prefix string, stack []string) ([]Var, error) {
	id := p.path + "." + typeName
	if typeName != "" {
		if slices.Contains(stack, id) {
			return out, nil
		}
		stack = append(stack, id)
	}
	for _, field := range st.Fields.List {
		var tag reflect.StructTag
		if field.Tag != nil {
			raw, err := strconv.Unquote(field.Tag.Value)
			if err != nil {
				return nil, err
			}
			tag = reflect.StructTag(raw)
		}
		names := field.Names
		if len(names) == 0 { // embedded: the field is named after its type
			names = []*ast.Ident{ast.NewIdent(embeddedName(field.Type))}
		}
		for _, name := range names {
			if !ast.IsExported(name.Name) {
				continue
			}
			key, opts, _ := strings.Cut(tag.Get("env"), ",")
			if key == "-" {
				continue
			}
			inner := prefix + tag.Get("envPrefix")
			typ, pointer := field.Type, false
			if star, ok := typ.(*ast.StarExpr); ok {
				typ, pointer = star.X, true
			}
			if key != "" {
				out = append(out, leaf(field, tag, key, opts, prefix, p.path, typeName))
			}
			if pointer && key != "" {
				continue
			}
			nst, nf, np, nname, err := s.structOf(typ, f, p)
			if err != nil {
				return nil, err
			}
			if nst != nil {
				if out, err = s.walk(out, nst, nf, np, nname, inner, stack); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

func leaf(field *ast.Field, tag reflect.StructTag, key, opts, prefix, pkgPath, typeName string) Var {
	doc := field.Doc.Text()
	v := Var{Name: prefix + key, Key: key, PkgPath: pkgPath, Type: typeName, Secret: tag.Get("secret") == "true"}
	v.Description = tag.Get("desc")
	if v.Description == "" {
		v.Description = strings.Join(strings.Fields(doc), " ")
	}
	var tagged bool
	if v.Default, tagged = tag.Lookup("envDefault"); !tagged {
		v.Default = DocumentedDefault(doc)
	}
	for o := range strings.SplitSeq(opts, ",") {
		if o == "required" || o == "notEmpty" {
			v.Required = true
		}
	}
	return v
}

func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return embeddedName(t.X)
	}
	return ""
}

func (s *scanner) service(spec Spec) (Service, error) {
	importPath := path.Join(exModule, spec.Dir)
	p, err := s.load(importPath)
	if err != nil {
		return Service{}, err
	}
	if p == nil || p.name != "main" {
		return Service{}, fmt.Errorf("envtable: %s is not a main package", spec.Dir)
	}
	svc := Service{Spec: spec}
	for _, f := range p.files {
		if f.Doc != nil && svc.Doc == "" {
			svc.Doc = firstSentence(f.Doc.Text())
		}
	}
	d, ok := p.types["Config"]
	st, isStruct := d.expr.(*ast.StructType)
	if !ok || !isStruct {
		return Service{}, fmt.Errorf("envtable: %s declares no `type Config struct`", spec.Dir)
	}
	if svc.Vars, err = s.walk(nil, st, d.file, p, "Config", "", nil); err != nil {
		return Service{}, fmt.Errorf("envtable: %s: %w", spec.Dir, err)
	}
	if svc.Defaults, err = s.environDefaults(p); err != nil {
		return Service{}, fmt.Errorf("envtable: %s: %w", spec.Dir, err)
	}
	return svc, nil
}

// environDefaults returns the map literal that the package passes to
// platform.Environ, directly or through a package-level variable.
func (s *scanner) environDefaults(p *pkg) (map[string]string, error) {
	var calls []*ast.CallExpr
	var files []*ast.File
	for _, f := range p.files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Environ" {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if q, _ := s.importOf(f, x.Name); q != nil && q.path == exModule+"/internal/platform" {
				calls, files = append(calls, call), append(files, f)
			}
			return true
		})
	}
	switch len(calls) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("%d calls of platform.Environ, want one", len(calls))
	}
	if len(calls[0].Args) != 1 {
		return nil, errors.New("platform.Environ called without its one argument")
	}
	arg := calls[0].Args[0]
	if id, ok := arg.(*ast.Ident); ok {
		arg = packageVar(p, id.Name)
	}
	lit, ok := arg.(*ast.CompositeLit)
	if !ok {
		return nil, errors.New("the argument of platform.Environ is not a map literal or a package variable set to one")
	}
	out := map[string]string{}
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			return nil, errors.New("platform.Environ's map has an element that is not key: value")
		}
		k, err1 := stringLit(kv.Key)
		v, err2 := stringLit(kv.Value)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("platform.Environ's map: %w", err)
		}
		out[k] = v
	}
	return out, nil
}

func packageVar(p *pkg, name string) ast.Expr {
	for _, f := range p.files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name == name && i < len(vs.Values) {
						return vs.Values[i]
					}
				}
			}
		}
	}
	return nil
}

func stringLit(e ast.Expr) (string, error) {
	if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
		return strconv.Unquote(b.Value)
	}
	return "", fmt.Errorf("%T is not a string literal", e)
}

var defaultRE = regexp.MustCompile(`(?:^|[^A-Za-z])Default (\S+)`)

// DocumentedDefault returns the default a field comment states: X in the first
// "Default X" of the comment, as internal/envdoc reads it for docs/config.md (that
// package is internal to the library module; the test of this one checks that the
// two agree on every library variable a service reads).
func DocumentedDefault(doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	for _, m := range defaultRE.FindAllStringSubmatch(doc, -1) {
		v := strings.TrimRight(m[1], ".,;:)")
		switch v {
		case "", "is", "the", "to", "value":
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		return v
	}
	return ""
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
