package access

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestCounterValue(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    entryValue
		wantErr bool
	}{
		{name: "ok", in: "1773230400:42", want: entryValue{start: 1773230400, used: 42}},
		{name: "zero", in: "0:0"},
		{name: "max", in: "9223372036854775807:9223372036854775807", want: entryValue{start: 1<<63 - 1, used: 1<<63 - 1}},
		{name: "one holder", in: "1773230400:7;0a1b=3,5,1773230460000",
			want: entryValue{start: 1773230400, used: 7, holders: []holding{{id: "0a1b", used: 3, lease: 5, expires: 1773230460000}}}},
		{name: "two holders", in: "1:0;a=0,1,2;b=3,0,4",
			want: entryValue{start: 1, holders: []holding{{id: "a", lease: 1, expires: 2}, {id: "b", used: 3, expires: 4}}}},
		{name: "no colon", in: "1773230400", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "negative total", in: "1:-5", wantErr: true},
		{name: "negative start", in: "-1:5", wantErr: true},
		{name: "plus sign", in: "+1:5", wantErr: true},
		{name: "json", in: `{"total":5}`, wantErr: true},
		{name: "two colons", in: "1:2:3", wantErr: true},
		{name: "overflow", in: "1:99999999999999999999", wantErr: true},
		{name: "empty record", in: "1:2;", wantErr: true},
		{name: "record without id", in: "1:2;=1,2,3", wantErr: true},
		{name: "upper-case id", in: "1:2;A=1,2,3", wantErr: true},
		{name: "record short", in: "1:2;a=1,2", wantErr: true},
		{name: "record long", in: "1:2;a=1,2,3,4", wantErr: true},
		{name: "negative lease", in: "1:2;a=1,-2,3", wantErr: true},
		{name: "holder twice", in: "1:2;a=1,2,3;a=1,2,3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCounterValue([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %q as %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parse %q = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if enc := string(appendCounterValue(nil, got)); enc != tt.in {
				t.Fatalf("encode = %q, want %q", enc, tt.in)
			}
		})
	}
}

func FuzzParseCounterValue(f *testing.F) {
	for _, s := range []string{"1773230400:42", "0:0", "1:-1", ":", "1:2:3", "+1:+2", " 1:2",
		"1773230400:7;0a1b=3,5,1773230460000", "1:0;a=0,1,2;b=3,0,4", "1:2;a=1,2,3;a=1,2,3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseCounterValue(b)
		if err != nil {
			return
		}
		if v.start < 0 || v.used < 0 {
			t.Fatalf("%q parsed to negative %d:%d", b, v.start, v.used)
		}
		for _, h := range v.holders {
			if h.used < 0 || h.lease < 0 || h.expires < 0 || !validHolderID(h.id) {
				t.Fatalf("%q parsed to a bad record %+v", b, h)
			}
		}
		v2, err := parseCounterValue(appendCounterValue(nil, v))
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip of %q: %+v, %v", b, v2, err)
		}
	})
}

func TestCredential(t *testing.T) {
	tests := []struct {
		name          string
		authorization string
		xAPIKey       string
		token         string
		present       bool
	}{
		{name: "bearer", authorization: "Bearer abc", token: "abc", present: true},
		{name: "BEARER", authorization: "BEARER abc", token: "abc", present: true},
		{name: "bearer tab", authorization: "Bearer\tabc", present: true},
		{name: "x-api-key", xAPIKey: " abc ", token: "abc", present: true},
		{name: "bearer alone", authorization: "Bearer", present: true},
		{name: "bearer and spaces", authorization: "Bearer    ", present: true},
		{name: "nothing", present: false},
		{name: "basic with x-api-key", authorization: "Basic x", xAPIKey: "k", token: "k", present: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, present := credential([]byte(tt.authorization), []byte(tt.xAPIKey))
			if string(token) != tt.token || present != tt.present {
				t.Fatalf("credential = %q, %v; want %q, %v", token, present, tt.token, tt.present)
			}
		})
	}
}

func FuzzCredential(f *testing.F) {
	f.Add([]byte("Bearer gw-abc"), []byte(""))
	f.Add([]byte(""), []byte("sk-ant-xyz"))
	f.Add([]byte("bearer "), []byte(" "))
	f.Add([]byte("Basic Zm9v"), []byte("k"))
	f.Fuzz(func(t *testing.T, authorization, xAPIKey []byte) {
		token, present := credential(authorization, xAPIKey)
		if token == nil {
			return
		}
		if !present || len(token) == 0 {
			t.Fatalf("token %q with present=%v", token, present)
		}
		if !bytes.Contains(authorization, token) && !bytes.Contains(xAPIKey, token) {
			t.Fatalf("token %q is in neither header", token)
		}
		if t0 := token[0]; t0 == ' ' || t0 == '\t' {
			t.Fatalf("token %q starts with space", token)
		}
	})
}

func TestStoreName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"team-a", "team-a"},
		{"Team_1", "Team_1"},
		{"team.a", "=7465616d2e61"},
		{"", "="},
		{"a b", "=612062"},
	}
	for _, tt := range tests {
		if got := storeName(tt.in); got != tt.want {
			t.Errorf("storeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzStoreName(f *testing.F) {
	f.Add("team-a", "team.a")
	f.Add("=61", "a")
	f.Fuzz(func(t *testing.T, a, b string) {
		na, nb := storeName(a), storeName(b)
		for i := 0; i < len(na); i++ {
			c := na[i]
			if !(c == '-' || c == '_' || c == '=' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				t.Fatalf("storeName(%q) = %q: %q is not a key-value token character", a, na, c)
			}
		}
		if a != b && na == nb {
			t.Fatalf("storeName(%q) == storeName(%q) == %q", a, b, na)
		}
	})
}

func TestPeriodBounds(t *testing.T) {
	d := func(y int, m time.Month, day, h, min int) time.Time {
		return time.Date(y, m, day, h, min, 0, 0, time.UTC)
	}
	tests := []struct {
		name       string
		p          period
		at         time.Time
		start, end time.Time
	}{
		{"minute", periodMinute, d(2026, 3, 11, 12, 0).Add(59 * time.Second), d(2026, 3, 11, 12, 0), d(2026, 3, 11, 12, 1)},
		{"minute boundary", periodMinute, d(2026, 3, 11, 12, 1), d(2026, 3, 11, 12, 1), d(2026, 3, 11, 12, 2)},
		{"minute in another zone", periodMinute, d(2026, 3, 11, 12, 0).In(time.FixedZone("x", 5*3600+1800)), d(2026, 3, 11, 12, 0), d(2026, 3, 11, 12, 1)},
		{"day", periodDay, d(2026, 3, 11, 23, 59), d(2026, 3, 11, 0, 0), d(2026, 3, 12, 0, 0)},
		{"day in a zone ahead of UTC", periodDay, d(2026, 3, 11, 23, 0).In(time.FixedZone("x", 3*3600)), d(2026, 3, 11, 0, 0), d(2026, 3, 12, 0, 0)},
		{"week from wednesday", periodWeek, d(2026, 3, 11, 8, 0), d(2026, 3, 9, 0, 0), d(2026, 3, 16, 0, 0)},
		{"week on monday", periodWeek, d(2026, 3, 9, 0, 0), d(2026, 3, 9, 0, 0), d(2026, 3, 16, 0, 0)},
		{"week on sunday", periodWeek, d(2026, 3, 15, 23, 59), d(2026, 3, 9, 0, 0), d(2026, 3, 16, 0, 0)},
		{"week across a month", periodWeek, d(2026, 4, 1, 0, 0), d(2026, 3, 30, 0, 0), d(2026, 4, 6, 0, 0)},
		{"month", periodMonth, d(2026, 2, 28, 23, 59), d(2026, 2, 1, 0, 0), d(2026, 3, 1, 0, 0)},
		{"december", periodMonth, d(2026, 12, 31, 0, 0), d(2026, 12, 1, 0, 0), d(2027, 1, 1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := tt.p.bounds(tt.at)
			if !start.Equal(tt.start) || !end.Equal(tt.end) {
				t.Fatalf("bounds(%v) = [%v, %v), want [%v, %v)", tt.at, start, end, tt.start, tt.end)
			}
		})
	}
}
