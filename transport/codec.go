package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// ContentTypeJSON is the media type DecodeJSON accepts and WriteJSON writes.
const ContentTypeJSON = "application/json"

// Sentinel errors wrapped by a *DecodeError, for callers that branch with errors.Is.
var (
	// ErrUnsupportedMediaType: the Content-Type is missing or is not JSON (415).
	ErrUnsupportedMediaType = errors.New("transport: unsupported media type")
	// ErrEmptyBody: the request has no body (400).
	ErrEmptyBody = errors.New("transport: empty request body")
	// ErrMalformedJSON: the body is not valid JSON (400).
	ErrMalformedJSON = errors.New("transport: malformed json")
	// ErrUnknownField: the body has a field the target type does not (400).
	ErrUnknownField = errors.New("transport: unknown field")
	// ErrFieldType: a field has the wrong JSON type (400).
	ErrFieldType = errors.New("transport: wrong field type")
	// ErrTrailingData: something follows the JSON value (400).
	ErrTrailingData = errors.New("transport: trailing data after json value")
	// ErrBodyTooLarge: the body exceeds the limit (413).
	ErrBodyTooLarge = errors.New("transport: request body too large")
)

// DecodeError is a request body that DecodeJSON refused. It carries the status to
// answer with and a detail safe to show the caller; errors.Is matches the sentinel it
// wraps (ErrUnknownField, ...), and errors.As finds the underlying *json.SyntaxError,
// *json.UnmarshalTypeError or *http.MaxBytesError. ProblemFor (through errors.As
// into *Problem) turns it into a problem+json body that names the field.
//
// A DecodeError is immutable and safe for concurrent use.
type DecodeError struct {
	// Status is 400, 413 or 415.
	Status int
	// Field is the dotted path of the offending field, "" when not about one field.
	Field string
	// Detail is a message for the caller, such as `field "quantity": want number, got string`.
	Detail string
	// Kind is the sentinel: ErrMalformedJSON, ErrUnknownField, ...
	Kind error
	// Err is the underlying error from encoding/json or net/http, if any.
	Err error
}

// Error returns "transport: decode json: " and the detail.
func (e *DecodeError) Error() string { return "transport: decode json: " + e.Detail }

// Unwrap returns the sentinel and the underlying error.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// StatusCode returns e.Status.
func (e *DecodeError) StatusCode() int { return e.Status }

// As lets errors.As(err, &p) with p a *Problem find the problem describing e, which
// is how ProblemFor and WriteError write it.
func (e *DecodeError) As(target any) bool {
	p, ok := target.(**Problem)
	if !ok {
		return false
	}
	*p = e.Problem()
	return true
}

// Problem returns the problem+json body for e.
func (e *DecodeError) Problem() *Problem {
	p := &Problem{Status: e.Status, Title: http.StatusText(e.Status), Detail: e.Detail}
	if e.Field != "" {
		p.Errors = []FieldError{{Field: e.Field, Detail: e.Detail}}
	}
	return p
}

// DecodeJSON strictly decodes the JSON body of r into a new T:
//
//   - the Content-Type must be application/json or another +json type, with no
//     charset other than utf-8; otherwise 415;
//   - the body may be at most limit bytes (zero or negative means
//     defaultMaxBodyBytes), whether or not it is chunked; otherwise 413;
//   - unknown fields, a second value or other trailing data, an empty body and
//     malformed JSON are 400, with a detail naming the field where there is one:
//     `field "quantity": want number, got string`.
//
// Every failure is a *DecodeError, which WriteError turns into a problem+json
// response. DecodeJSON reads r.Body but does not close it (net/http does). It is safe
// for concurrent use on distinct requests.
func DecodeJSON[T any](r *http.Request, limit int64) (T, error) {
	var v T
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return v, err
	}
	if r.Body == nil || r.Body == http.NoBody {
		return v, &DecodeError{Status: http.StatusBadRequest, Detail: "request body is empty", Kind: ErrEmptyBody}
	}
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	err := decodeJSON(http.MaxBytesReader(nil, r.Body, limit), &v)
	return v, err
}

// unmarshalJSON is DecodeJSON for a body already in memory: the same strict rules
// (no unknown fields, no trailing data) and the same *DecodeError values, without the
// Content-Type and size checks. go-kit decoders and fuzz targets use it.
func unmarshalJSON[T any](data []byte) (T, error) {
	var v T
	err := decodeJSON(bytes.NewReader(data), &v)
	return v, err
}

func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err == nil:
		return &DecodeError{Status: http.StatusBadRequest, Detail: "body holds more than one JSON value", Kind: ErrTrailingData}
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return &DecodeError{Status: http.StatusBadRequest, Detail: "unexpected data after the JSON value", Kind: ErrTrailingData, Err: err}
	}
}

func decodeError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return &DecodeError{Status: http.StatusRequestEntityTooLarge,
			Detail: "request body larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes",
			Kind:   ErrBodyTooLarge, Err: err}
	case errors.Is(err, io.EOF):
		return &DecodeError{Status: http.StatusBadRequest, Detail: "request body is empty", Kind: ErrEmptyBody, Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &DecodeError{Status: http.StatusBadRequest, Detail: "malformed JSON: unexpected end of body", Kind: ErrMalformedJSON, Err: err}
	case errors.As(err, &se):
		return &DecodeError{Status: http.StatusBadRequest,
			Detail: "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10),
			Kind:   ErrMalformedJSON, Err: err}
	case errors.As(err, &ute):
		field := ute.Field
		d := "want " + jsonKind(ute.Type) + ", got " + ute.Value
		if field == "" {
			d = "body: " + d
		} else {
			d = "field " + strconv.Quote(field) + ": " + d
		}
		return &DecodeError{Status: http.StatusBadRequest, Field: field, Detail: d, Kind: ErrFieldType, Err: err}
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, uerr := strconv.Unquote(name)
		if uerr != nil {
			field = name
		}
		return &DecodeError{Status: http.StatusBadRequest, Field: field,
			Detail: "field " + strconv.Quote(field) + ": unknown field", Kind: ErrUnknownField, Err: err}
	}
	var iue *json.InvalidUnmarshalError
	if errors.As(err, &iue) {
		// A programming error (decoding into a non-pointer): not the caller's fault.
		return fmt.Errorf("transport: decode json: %w", err)
	}
	// Other errors come from a type's own UnmarshalJSON or UnmarshalText.
	return &DecodeError{Status: http.StatusBadRequest, Detail: "invalid value", Kind: ErrMalformedJSON, Err: err}
}

// jsonKind names the JSON type that t decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

func checkJSONContentType(ct string) error {
	if ct == ContentTypeJSON || ct == "application/json; charset=utf-8" {
		return nil
	}
	fail := func(detail string) error {
		return &DecodeError{Status: http.StatusUnsupportedMediaType, Detail: detail, Kind: ErrUnsupportedMediaType}
	}
	if ct == "" {
		return fail("Content-Type is missing; want " + ContentTypeJSON)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fail("Content-Type is malformed; want " + ContentTypeJSON)
	}
	if mt != ContentTypeJSON && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return fail("Content-Type " + strconv.Quote(mt) + " is not supported; want " + ContentTypeJSON)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fail("charset " + strconv.Quote(cs) + " is not supported; want utf-8")
	}
	return nil
}

// WriteJSON writes v as a JSON response with the given status. v is marshalled
// before anything is written, so a value that cannot be marshalled gives a 500
// problem response (and the error is returned) instead of a half-written body.
// The returned error is otherwise the error of writing to w.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		err = fmt.Errorf("transport: encode json: %w", err)
		WriteError(w, nil, err)
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	body = append(body, '\n')
	_, err = w.Write(body)
	return err
}
