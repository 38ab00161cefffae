package envdoc

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/gantry-go/gantry/config"
)

var scans sync.Map // module root -> *scan

type scan struct {
	once     sync.Once
	sections []Section
	err      error
}

// scanned returns Scan(root), computed once per test binary.
func scanned(root string) ([]Section, error) {
	v, _ := scans.LoadOrStore(root, new(scan))
	s := v.(*scan)
	s.once.Do(func() { s.sections, s.err = Scan(root) })
	return s.sections, s.err
}

// moduleRoot returns the nearest directory at or above dir that has a go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("envdoc: no go.mod above " + dir)
		}
	}
}

// CheckDefaults fails t unless every default that docs/config.md documents for the
// settings struct T is the default the code applies. T must be declared in the
// package whose test calls CheckDefaults (the test's working directory).
//
// For each variable with a documented default X (its envDefault tag, else the
// "Default X" of its field comment), loading T with config.Load from base plus
// VAR=X must give the same effective settings as loading T from base alone; and,
// when base is empty, loading T from an empty environment must give the same
// effective settings as the zero T (so that envDefault tags, where they remain,
// agree with the code). effective maps settings to what the code makes of them: a
// withDefaults method, or the fields of what a constructor builds. Its results are
// compared with reflect.DeepEqual, so they must not hold funcs.
func CheckDefaults[T any](t testing.TB, base map[string]string, effective func(T) any) {
	t.Helper()
	name := reflect.TypeFor[T]().Name()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := moduleRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	sections, err := scanned(root)
	if err != nil {
		t.Fatal(err)
	}
	var sec *Section
	for i := range sections {
		if sections[i].Package == filepath.ToSlash(rel) && sections[i].Type == name {
			sec = &sections[i]
		}
	}
	if sec == nil {
		t.Fatalf("envdoc: no settings struct %s in package %s", name, rel)
	}

	load := func(env map[string]string) (any, error) {
		v, err := config.Load[T](config.WithEnvironment(env))
		if err != nil {
			return nil, err
		}
		return effective(v), nil
	}
	want, err := load(base)
	if err != nil {
		t.Fatalf("%s: loading %v: %v", name, base, err)
	}
	if len(base) == 0 {
		var zero T
		if got := effective(zero); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: an empty environment gives\n\t%+v\nbut the zero value gives\n\t%+v", name, want, got)
		}
	}
	checked := 0
	for _, v := range sec.Vars {
		if v.Default == "" || v.Secret {
			continue
		}
		env := maps.Clone(base)
		if env == nil {
			env = map[string]string{}
		}
		env[v.Name] = v.Default
		got, err := load(env)
		switch {
		case err != nil:
			t.Errorf("%s: the documented default %s=%s does not load: %v", name, v.Name, v.Default, err)
		case !reflect.DeepEqual(got, want):
			t.Errorf("%s: the documented default %s=%s gives\n\t%+v\nbut leaving %s unset gives\n\t%+v", name, v.Name, v.Default, got, v.Name, want)
		}
		checked++
	}
	t.Logf("%s: %d documented defaults checked", name, checked)
}

// String returns "package.Type", as in the generated headings.
func (s Section) String() string {
	pkg := s.Package
	if pkg == "." {
		pkg = "gantry"
	}
	return fmt.Sprintf("%s.%s", pkg, s.Type)
}
