package portal_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/portal"
)

func TestFormatParseTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   time.Time
		want string
	}{
		{"UTC moves to UTC+7", time.Date(2026, 6, 9, 2, 30, 5, 0, time.UTC), "20260609093005"},
		{"across midnight", time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC), "20270101000000"},
		{"already UTC+7", time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("", 7*3600)), "20260609090000"},
		{"fractions dropped", time.Date(2026, 6, 9, 2, 0, 0, 999_000_000, time.UTC), "20260609090000"},
		{"zero is empty", time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := portal.FormatTime(tc.in)
			if got != tc.want {
				t.Fatalf("FormatTime = %q, want %q", got, tc.want)
			}
			back, err := portal.ParseTime(got)
			if err != nil || !back.Equal(tc.in.Truncate(time.Second)) {
				t.Fatalf("ParseTime(%q) = %v, %v; want %v", got, back, err, tc.in)
			}
		})
	}
	for _, bad := range []string{"2026-06-09", "2026060909000", "202606090900000", "20261309090000",
		"2026060909000x", "+2026060909000", " 20260609090000"} {
		if _, err := portal.ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
	if got, _ := portal.ParseTime("20260609090000"); got.Location() != portal.ICT {
		t.Errorf("ParseTime zone %v, want ICT", got.Location())
	}
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	if b, _ := json.Marshal(portal.StatusProcessing); string(b) != `"4"` {
		t.Fatalf("Marshal(4) = %s, want \"4\"", b)
	}
	for _, tc := range []struct {
		in   string
		want portal.Status
		ok   bool
	}{
		{`"4"`, 4, true}, {`4`, 4, true}, {`" 10 "`, 10, true}, {`null`, 0, true}, {`""`, 0, true},
		{`"four"`, 0, false}, {`4.5`, 0, false}, {`true`, 0, false}, {`"99999999999"`, 0, false}, {`[4]`, 0, false},
	} {
		var s portal.Status
		err := json.Unmarshal([]byte(tc.in), &s)
		if (err == nil) != tc.ok || s != tc.want {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d ok %v", tc.in, s, err, tc.want, tc.ok)
		}
	}
	for s, valid := range map[portal.Status]bool{0: false, 1: true, 10: true, 11: false, -1: false} {
		if s.Valid() != valid {
			t.Errorf("Status(%d).Valid() = %v", s, !valid)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	t.Parallel()
	fee := portal.LePhi{Gia: 9_007_199_254_740_993} // above 2^53: exact only as an integer
	b, _ := json.Marshal(fee)
	var back portal.LePhi
	if err := json.Unmarshal(b, &back); err != nil || back.Gia != fee.Gia {
		t.Fatalf("round trip %s → %d, %v", b, back.Gia, err)
	}
	for in, want := range map[string]portal.Amount{`{"Gia":"50000"}`: 50000, `{"Gia":50000}`: 50000, `{"Gia":""}`: 0} {
		var f portal.LePhi
		if err := json.Unmarshal([]byte(in), &f); err != nil || f.Gia != want {
			t.Errorf("Unmarshal(%s) = %d, %v", in, f.Gia, err)
		}
	}
	var f portal.LePhi
	if err := json.Unmarshal([]byte(`{"Gia":50000.5}`), &f); err == nil {
		t.Error("a fractional amount was accepted")
	}
}

func TestDecodeAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body    string
		code, message string
		success       bool
		data          string
		err           bool
	}{
		{"number 0", `{"error_code":0}`, "0", "", true, "", false},
		{"string 0", `{"error_code":"0"}`, "0", "", true, "", false},
		{"string 00", `{"error_code":"00","message":"Thành công"}`, "00", "Thành công", true, "", false},
		{"padded 00", `{"error_code":" 00 "}`, "00", "", true, "", false},
		{"negative zero", `{"error_code":-0}`, "0", "", true, "", false},
		{"number 99", `{"error_code":99,"message":"Lỗi hệ thống"}`, "99", "Lỗi hệ thống", false, "", false},
		{"string -1", `{"error_code":"-1","error_message":"Phiên hết hạn"}`, "-1", "Phiên hết hạn", false, "", false},
		{"000 is not 00", `{"error_code":"000"}`, "000", "", false, "", false},
		{"fraction", `{"error_code":0.0}`, "0.0", "", false, "", false},
		{"data", `{"error_code":0,"data":[{"MaHoSo":"D1"}]}`, "0", "", true, `[{"MaHoSo":"D1"}]`, false},
		{"result", `{"error_code":0,"result":[]}`, "0", "", true, `[]`, false},
		{"non-string message", `{"error_code":1,"message":{"vi":"x"}}`, "1", "", false, "", false},
		{"no error_code", `{"data":[]}`, "", "", false, "", true},
		{"null error_code", `{"error_code":null}`, "", "", false, "", true},
		{"bool error_code", `{"error_code":false}`, "", "", false, "", true},
		{"empty string code", `{"error_code":"  "}`, "", "", false, "", true},
		{"array", `[{"error_code":0}]`, "", "", false, "", true},
		{"null", `null`, "", "", false, "", true},
		{"empty", ``, "", "", false, "", true},
		{"html", `<html></html>`, "", "", false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := portal.DecodeAnswer([]byte(tc.body))
			if tc.err {
				if !errors.Is(err, portal.ErrProtocol) {
					t.Fatalf("got %+v, %v; want ErrProtocol", a, err)
				}
				return
			}
			if err != nil || a.Code != tc.code || a.Message != tc.message || a.Success() != tc.success || string(a.Data) != tc.data {
				t.Fatalf("got %+v (success %v), %v", a, a.Success(), err)
			}
		})
	}
}
