package transport_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/transport"
)

type lineItem struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

type orderReq struct {
	Customer string     `json:"customer"`
	Items    []lineItem `json:"items"`
	Express  bool       `json:"express,omitempty"`
}

func jsonRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	const ct = "application/json"
	tests := []struct {
		name       string
		body       string
		ct         string
		limit      int64
		want       orderReq
		wantStatus int // 0 = success
		wantKind   error
		wantField  string
		wantDetail string
	}{
		{name: "ok", body: `{"customer":"ann","items":[{"sku":"a1","quantity":2}]}`, ct: ct,
			want: orderReq{Customer: "ann", Items: []lineItem{{"a1", 2}}}},
		{name: "ok charset", body: `{"customer":"ann"}`, ct: "application/json; charset=UTF-8", want: orderReq{Customer: "ann"}},
		{name: "ok +json", body: `{"customer":"ann"}`, ct: "application/merge-patch+json", want: orderReq{Customer: "ann"}},
		{name: "ok trailing whitespace", body: "{\"customer\":\"ann\"}\n\t ", ct: ct, want: orderReq{Customer: "ann"}},
		{name: "missing content type", body: `{}`, ct: "", wantStatus: 415, wantKind: transport.ErrUnsupportedMediaType},
		{name: "text/plain", body: `{}`, ct: "text/plain", wantStatus: 415, wantKind: transport.ErrUnsupportedMediaType},
		{name: "form", body: `a=b`, ct: "application/x-www-form-urlencoded", wantStatus: 415, wantKind: transport.ErrUnsupportedMediaType},
		{name: "latin1", body: `{}`, ct: "application/json; charset=latin1", wantStatus: 415, wantKind: transport.ErrUnsupportedMediaType},
		{name: "malformed content type", body: `{}`, ct: "application/json; =", wantStatus: 415, wantKind: transport.ErrUnsupportedMediaType},
		{name: "empty", body: ``, ct: ct, wantStatus: 400, wantKind: transport.ErrEmptyBody},
		{name: "unknown field", body: `{"customer":"ann","coupon":"FREE"}`, ct: ct, wantStatus: 400,
			wantKind: transport.ErrUnknownField, wantField: "coupon", wantDetail: `field "coupon": unknown field`},
		{name: "wrong type", body: `{"items":[{"sku":"a","quantity":"two"}]}`, ct: ct, wantStatus: 400,
			wantKind: transport.ErrFieldType, wantField: "items.quantity", wantDetail: `field "items.quantity": want number, got string`},
		{name: "wrong type bool", body: `{"express":"yes"}`, ct: ct, wantStatus: 400,
			wantKind: transport.ErrFieldType, wantField: "express", wantDetail: `field "express": want boolean, got string`},
		{name: "wrong top-level type", body: `[1,2]`, ct: ct, wantStatus: 400,
			wantKind: transport.ErrFieldType, wantDetail: `body: want object, got array`},
		{name: "syntax", body: `{"customer":}`, ct: ct, wantStatus: 400, wantKind: transport.ErrMalformedJSON, wantDetail: "malformed JSON at byte 13"},
		{name: "truncated", body: `{"customer":"a`, ct: ct, wantStatus: 400, wantKind: transport.ErrMalformedJSON},
		{name: "two values", body: `{"customer":"a"}{"customer":"b"}`, ct: ct, wantStatus: 400, wantKind: transport.ErrTrailingData},
		{name: "trailing garbage", body: `{"customer":"a"} xyz`, ct: ct, wantStatus: 400, wantKind: transport.ErrTrailingData},
		{name: "too large", body: `{"customer":"` + strings.Repeat("a", 100) + `"}`, ct: ct, limit: 50, wantStatus: 413, wantKind: transport.ErrBodyTooLarge},
		{name: "too large in trailing data", body: `{"customer":"a"}` + strings.Repeat(" ", 40) + "1", ct: ct, limit: 50, wantStatus: 413, wantKind: transport.ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transport.DecodeJSON[orderReq](jsonRequest(tt.body, tt.ct), tt.limit)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON(%s) error = %v, want nil", tt.body, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("DecodeJSON(%s) mismatch (-want +got):\n%s", tt.body, diff)
				}
				return
			}
			var de *transport.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeJSON(%s) error = %v, want a *DecodeError", tt.body, err)
			}
			if de.Status != tt.wantStatus || !errors.Is(err, tt.wantKind) || de.Field != tt.wantField {
				t.Errorf("DecodeJSON(%s) = status %d kind %v field %q, want %d %v %q", tt.body, de.Status, de.Kind, de.Field, tt.wantStatus, tt.wantKind, tt.wantField)
			}
			if tt.wantDetail != "" && de.Detail != tt.wantDetail {
				t.Errorf("DecodeJSON(%s) detail = %q, want %q", tt.body, de.Detail, tt.wantDetail)
			}
			// The error becomes a problem response with the same status and detail.
			rec := httptest.NewRecorder()
			transport.WriteError(rec, nil, err)
			resp := rec.Result()
			p := decodeProblem(t, resp)
			if resp.StatusCode != tt.wantStatus || p.Status != tt.wantStatus || p.Detail != de.Detail {
				t.Errorf("WriteError(%v) = %d %+v, want %d with detail %q", err, resp.StatusCode, p, tt.wantStatus, de.Detail)
			}
			if tt.wantField != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.wantField) {
				t.Errorf("problem errors = %+v, want one naming %q", p.Errors, tt.wantField)
			}
		})
	}
}

func TestDecodeJSONCustomUnmarshalerError(t *testing.T) {
	// A custom UnmarshalJSON error is the caller's fault: 400, not 500.
	_, err := transport.DecodeJSON[strictDate](jsonRequest(`"yesterday"`, "application/json"), 0)
	var de *transport.DecodeError
	if !errors.As(err, &de) || de.Status != 400 {
		t.Errorf("DecodeJSON(custom type error) = %v, want a 400 DecodeError", err)
	}
	if p := transport.ProblemFor(err); p.Status != 400 || strings.Contains(p.Detail, "not a date") {
		t.Errorf("ProblemFor(%v) = %+v, want 400 without the type's internal message", err, p)
	}
}

type strictDate struct{}

func (*strictDate) UnmarshalJSON([]byte) error { return errors.New("not a date") }

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := transport.WriteJSON(rec, http.StatusCreated, orderReq{Customer: "ann"}); err != nil {
		t.Fatalf("WriteJSON() = %v", err)
	}
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Body.String() != "{\"customer\":\"ann\",\"items\":null}\n" || rec.Header().Get("Content-Length") != "32" {
		t.Errorf("WriteJSON = %d %v %q", rec.Code, rec.Header(), rec.Body)
	}

	rec = httptest.NewRecorder()
	err := transport.WriteJSON(rec, http.StatusOK, map[string]any{"f": func() {}})
	if err == nil {
		t.Fatalf("WriteJSON(func) error = nil, want an error")
	}
	p := decodeProblem(t, rec.Result())
	if rec.Code != 500 || strings.Contains(p.Detail, "func") {
		t.Errorf("WriteJSON(func) = %d %+v, want 500 with a generic detail", rec.Code, p)
	}
}

// FuzzDecodeJSON feeds arbitrary bodies and content types to DecodeJSON: it must never
// panic, and it either decodes or returns a 4xx *DecodeError that WriteError turns
// into a problem response with that status.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"customer":"ann","items":[{"sku":"a1","quantity":2}]}`, `{}`, `[]`, `null`, ``, `{"x":1}`,
		`{"items":[{"quantity":"2"}]}`, `{"customer":"a"}{}`, `{"customer":"\u0000"}`, `{"items":[{"quantity":1e400}]}`,
	} {
		f.Add(s, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Add(`{}`, "application/json; charset=utf-16")
	f.Fuzz(func(t *testing.T, body, ct string) {
		_, err := transport.DecodeJSON[orderReq](jsonRequest(body, ct), 256)
		if err == nil {
			return
		}
		var de *transport.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("DecodeJSON(%q, %q) = %v, want a *DecodeError", body, ct, err)
		}
		if de.Status < 400 || de.Status > 499 {
			t.Fatalf("DecodeJSON(%q, %q) status = %d, want 4xx", body, ct, de.Status)
		}
		rec := httptest.NewRecorder()
		transport.WriteError(rec, nil, err)
		if rec.Code != de.Status {
			t.Fatalf("WriteError(%v) = %d, want %d", err, rec.Code, de.Status)
		}
	})
}

// FuzzUnmarshalJSON checks the in-memory decoder against the request decoder: same
// verdict for the same bytes.
func FuzzUnmarshalJSON(f *testing.F) {
	f.Add([]byte(`{"customer":"ann"}`))
	f.Add([]byte(`{"customer":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v1, err1 := transport.UnmarshalJSON[orderReq](data)
		r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(string(data))))
		r.Header.Set("Content-Type", "application/json")
		v2, err2 := transport.DecodeJSON[orderReq](r, int64(len(data))+1)
		if (err1 == nil) != (err2 == nil) || !cmp.Equal(v1, v2) {
			t.Fatalf("UnmarshalJSON(%q) = %v, %v; DecodeJSON = %v, %v", data, v1, err1, v2, err2)
		}
	})
}
