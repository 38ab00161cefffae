package config

import (
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
)

// Redacted is what [Describe] shows instead of the value of a secret.
const Redacted = "[redacted]"

// Var describes one environment variable of a configuration struct. It is a plain
// value.
type Var struct {
	// Name is the full variable name, prefixes included.
	Name string
	// Field is the Go path of the field, e.g. "Telemetry.Endpoint".
	Field string
	// Type is the Go type of the field.
	Type string
	// Default is the envDefault value ("" when there is none).
	Default string
	// Description comes from the `desc:"..."` tag.
	Description string
	// Secret is true for fields tagged `secret:"true"`.
	Secret bool
	// Required is true for ,required and ,notEmpty fields.
	Required bool
	// Value is the field's value as text: "[redacted]" for a set secret, "" for an
	// unset one.
	Value string
}

// Dump is the effective configuration: one [Var] per environment variable, in
// field order. It never holds the value of a secret. Its methods only read it, so it
// is safe for concurrent use as long as nobody modifies it.
type Dump []Var

// Describe lists the variables of v, a struct or a pointer to one, with their current
// values, secrets redacted. Describe(cfg) after [Load] is the effective
// configuration; Describe(T{}) documents T. It fails only when v is not a struct.
// The prefix option (see [WithPrefix]) is applied to the names.
func Describe(v any, opts ...Option) (Dump, error) {
	o := buildOptions(opts)
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: Describe needs a struct, got %T", v)
	}
	leaves := collect(rv, o.Prefix)
	d := make(Dump, 0, len(leaves))
	for _, l := range leaves {
		x := Var{
			Name: l.name, Field: l.path, Type: l.sf.Type.String(), Default: l.def,
			Description: l.sf.Tag.Get("desc"), Secret: l.secret, Required: l.required,
		}
		if l.val.IsValid() {
			x.Value = format(l.val, l.sf)
		}
		if x.Secret {
			if l.val.IsValid() && !l.val.IsZero() {
				x.Value = Redacted
			} else {
				x.Value = ""
			}
			if x.Default != "" {
				x.Default = Redacted
			}
		}
		d = append(d, x)
	}
	return d, nil
}

// Attrs returns one string attribute per variable, NAME=value.
func (d Dump) Attrs() []slog.Attr {
	attrs := make([]slog.Attr, len(d))
	for i, v := range d {
		attrs[i] = slog.String(v.Name, v.Value)
	}
	return attrs
}

// LogValue makes a Dump log as a group: logger.Info("config", "config", dump).
func (d Dump) LogValue() slog.Value { return slog.GroupValue(d.Attrs()...) }

// String returns one NAME=value line per variable.
func (d Dump) String() string {
	var b strings.Builder
	for _, v := range d {
		b.WriteString(v.Name)
		b.WriteByte('=')
		b.WriteString(v.Value)
		b.WriteByte('\n')
	}
	return b.String()
}

// Markdown writes a table of the variables (name, default, description) to w. A
// secret's description says that NAME_FILE may be used instead.
func (d Dump) Markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| Variable | Default | Description |\n|---|---|---|\n")
	for _, v := range d {
		def := ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, cell(def), cell(v.Doc()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Doc returns the description with notes on secrets and required values, as in the
// markdown table.
func (v Var) Doc() string {
	s := v.Description
	if v.Required {
		s = strings.TrimSpace("Required. " + s)
	}
	if v.Secret {
		s = strings.TrimSpace(s + " Secret: never logged; may be read from the file named by `" + v.Name + "_FILE`.")
	}
	return s
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// leaf is one variable found in a struct tree.
type leaf struct {
	name, path, def  string
	secret, required bool
	sf               reflect.StructField
	val              reflect.Value // invalid when only the type is known
}

func splitTag(tag string) (string, []string) {
	parts := strings.Split(tag, ",")
	return parts[0], parts[1:]
}

// collect walks v like env.Parse does and returns its variables.
func collect(v reflect.Value, prefix string) []leaf {
	return collectInto(nil, v, v.Type(), prefix, "", nil)
}

// collectInto appends the variables of t (v may be invalid when only the type is
// known). stack holds the struct types being walked, so that recursive types end.
func collectInto(out []leaf, v reflect.Value, t reflect.Type, prefix, path string, stack []reflect.Type) []leaf {
	if len(stack) > 32 || slices.Contains(stack, t) {
		return out
	}
	stack = append(stack, t)
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		key, tagOpts := splitTag(sf.Tag.Get("env"))
		if key == "-" {
			continue
		}
		p := prefix + sf.Tag.Get("envPrefix")
		fp := sf.Name
		if path != "" {
			fp = path + "." + sf.Name
		}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && key == "" {
			var ev reflect.Value
			if fv.IsValid() && !fv.IsNil() {
				ev = fv.Elem()
			}
			out = collectInto(out, ev, ft.Elem(), p, fp, stack)
			continue
		}
		if key != "" {
			l := leaf{name: prefix + key, path: fp, sf: sf, val: fv, secret: sf.Tag.Get("secret") == "true"}
			l.def = sf.Tag.Get("envDefault")
			for _, o := range tagOpts {
				if o == "required" || o == "notEmpty" {
					l.required = true
				}
			}
			out = append(out, l)
		}
		if ft.Kind() == reflect.Struct {
			out = collectInto(out, fv, ft, p, fp, stack)
		}
	}
	return out
}

// format renders a field value as it would be written in the environment.
func format(v reflect.Value, sf reflect.StructField) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if !v.CanInterface() {
		return ""
	}
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		if err == nil {
			return string(b)
		}
	}
	if v.CanAddr() {
		if s, ok := v.Addr().Interface().(fmt.Stringer); ok {
			return s.String()
		}
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		sep := sf.Tag.Get("envSeparator")
		if sep == "" {
			sep = ","
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i), reflect.StructField{})
		}
		return strings.Join(parts, sep)
	case reflect.Map:
		sep := sf.Tag.Get("envSeparator")
		if sep == "" {
			sep = ","
		}
		kv := sf.Tag.Get("envKeyValSeparator")
		if kv == "" {
			kv = ":"
		}
		parts := make([]string, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			parts = append(parts, fmt.Sprint(it.Key().Interface())+kv+fmt.Sprint(it.Value().Interface()))
		}
		slices.Sort(parts)
		return strings.Join(parts, sep)
	}
	return fmt.Sprint(v.Interface())
}
