package envtable

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-go/gantry/config"
)

// Default returns the default v has in svc: the one main.go gives it through
// platform.Environ, else the settings struct's. fromMain reports the first case.
func (svc Service) Default(v Var) (def string, fromMain bool) {
	if d, ok := svc.Defaults[v.Name]; ok {
		return d, true
	}
	return v.Default, false
}

// Markdown renders one section per service: its doc sentence and the table of its
// variables with the defaults that apply to it.
func Markdown(services []Service) string {
	var b strings.Builder
	for i, svc := range services {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "### %s\n\n", svc.Name)
		if svc.Doc != "" {
			b.WriteString(svc.Doc + "\n\n")
		}
		fmt.Fprintf(&b, "`examples/%s`: %d variables", svc.Dir, len(svc.Vars))
		if len(svc.Defaults) > 0 {
			keys := slices.Sorted(maps.Keys(svc.Defaults))
			fmt.Fprintf(&b, "; main.go sets the defaults of `%s`", strings.Join(keys, "`, `"))
		}
		b.WriteString(".\n\n| Variable | Default | Declared in | Description |\n|---|---|---|---|\n")
		for _, v := range svc.Vars {
			def, fromMain := svc.Default(v)
			doc := config.Var{Name: v.Name, Description: v.Description, Secret: v.Secret, Required: v.Required}.Doc()
			if fromMain {
				own := "none"
				if v.Default != "" {
					own = "`" + v.Default + "`"
				}
				doc = strings.TrimSpace(doc + " Default set by main.go; the settings struct's own: " + own + ".")
			}
			if def != "" {
				def = "`" + def + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, cell(def), cell(declared(v)), cell(doc))
		}
	}
	return b.String()
}

func declared(v Var) string {
	if s := v.Section(); s != "" {
		return "`" + s + "`"
	}
	return "`examples/" + strings.TrimPrefix(v.PkgPath, exModule+"/") + "." + v.Type + "`"
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// LibraryVar is one row of the library's generated tables in docs/config.md.
type LibraryVar struct {
	// Section is the heading of its struct, e.g. "resilience.RetrySettings".
	Section string
	// Name is the variable, or "PREFIX_*" for the variables of a nested struct.
	Name string
	// Default and Doc are the Default and Description cells, unquoted.
	Default, Doc string
}

// Wildcard returns the prefix and the nested struct's type name of a "PREFIX_*" row
// ("The variables of RateLimitSettings, each prefixed with CLIENT_."), and ok false
// for a plain variable.
func (l LibraryVar) Wildcard() (prefix, typeName string, ok bool) {
	prefix, ok = strings.CutSuffix(l.Name, "*")
	if !ok {
		return "", "", false
	}
	if m := wildcardRE.FindStringSubmatch(l.Doc); m != nil {
		typeName = m[1]
	}
	return prefix, typeName, true
}

var wildcardRE = regexp.MustCompile(`^The variables of (?:[\w]+\.)?(\w+), each prefixed with`)

// LibraryBegin and LibraryEnd delimit internal/envdoc's generated tables in
// docs/config.md.
const (
	LibraryBegin = "<!-- BEGIN GENERATED: go test ./internal/envdoc -update -->\n"
	LibraryEnd   = "<!-- END GENERATED -->\n"
)

// ParseLibrary reads the rows of internal/envdoc's tables from docs/config.md.
func ParseLibrary(doc string) ([]LibraryVar, error) {
	_, rest, ok1 := strings.Cut(doc, LibraryBegin)
	block, _, ok2 := strings.Cut(rest, LibraryEnd)
	if !ok1 || !ok2 {
		return nil, errors.New("docs/config.md lacks internal/envdoc's generated-section markers")
	}
	var out []LibraryVar
	section := ""
	for line := range strings.SplitSeq(block, "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			section = h
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := splitRow(line)
		if len(cells) != 3 || section == "" {
			return nil, fmt.Errorf("docs/config.md: cannot read the row %q", line)
		}
		out = append(out, LibraryVar{Section: section, Name: strings.Trim(cells[0], "`"),
			Default: strings.Trim(cells[1], "`"), Doc: cells[2]})
	}
	return out, nil
}

// splitRow splits a markdown table row on the pipes that are not escaped, and
// unescapes the cells.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// ReadBy returns the shipped services that read l, in the order of services: for a
// plain variable those whose Config has it under exactly that name (a prefixed copy,
// such as CLIENT_RATELIMIT_RATE, is another variable); for a "PREFIX_*" row those
// that read a variable with that prefix declared by the row's nested struct.
func ReadBy(l LibraryVar, services []Service) []string {
	prefix, typeName, wild := l.Wildcard()
	var out []string
	for _, svc := range services {
		if slices.ContainsFunc(svc.Vars, func(v Var) bool {
			if wild {
				return v.Library() && v.Type == typeName && strings.HasPrefix(v.Name, prefix) && v.Name == prefix+v.Key
			}
			return v.Name == l.Name
		}) {
			out = append(out, svc.Name)
		}
	}
	return out
}

// ReadByMarkdown renders the "read by" index of the library's variables, in the
// order of docs/config.md. unread gives the reason of each variable no shipped
// service reads.
func ReadByMarkdown(lib []LibraryVar, services []Service, unread map[string]string) string {
	var b strings.Builder
	b.WriteString("| Variable | Section | Read by |\n|---|---|---|\n")
	for _, l := range lib {
		readers := "none"
		if by := ReadBy(l, services); len(by) > 0 {
			readers = strings.Join(by, ", ")
		} else if why, ok := unread[l.Name]; ok {
			readers = "none: " + why
		}
		name := "`" + l.Name + "`"
		if _, typeName, ok := l.Wildcard(); ok && typeName != "" {
			name += " (" + typeName + ")"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", name, l.Section, cell(readers))
	}
	return b.String()
}
