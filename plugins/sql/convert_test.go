package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMoney(t *testing.T) {
	f32 := func(f float32) float64 { return float64(f) } // a PostgreSQL real as pgx delivers it
	cases := []struct {
		v     any
		is32  bool
		ccy   string
		minor bool
		want  string
		err   string
	}{
		{v: int64(18), ccy: "USD", want: "18.00 USD"},
		{v: float64(18), ccy: "USD", want: "18.00 USD"},
		{v: f32(18), is32: true, ccy: "USD", want: "18.00 USD"},
		{v: f32(21.35), is32: true, ccy: "USD", want: "21.35 USD"},   // 21.350000381469727 as float64
		{v: f32(123.79), is32: true, ccy: "USD", want: "123.79 USD"}, // 123.79000091552734
		{v: f32(0.1), is32: true, ccy: "USD", want: "0.10 USD"},
		{v: 18.000001, ccy: "USD", want: "18.00 USD"},
		{v: 17.999999, ccy: "USD", want: "18.00 USD"},
		{v: 2.675, ccy: "USD", want: "2.68 USD"}, // 2.67499999999999982236431605997495353221893310546875: the decimal 2.675, rounded half up
		{v: f32(2.675), is32: true, ccy: "USD", want: "2.68 USD"},
		{v: 0.1 + 0.2, ccy: "USD", want: "0.30 USD"},
		{v: 19.99, ccy: "USD", want: "19.99 USD"},
		{v: "15.500", ccy: "USD", want: "15.50 USD"}, // PostgreSQL numeric(12,3)
		{v: "13.4951", ccy: "USD", want: "13.50 USD"},
		{v: []byte("7"), ccy: "USD", want: "7.00 USD"},
		{v: "15.00 USD", ccy: "EUR", want: "15.00 USD"}, // already formatted
		{v: "1.5e2", ccy: "USD", want: "150.00 USD"},
		{v: int64(1500), ccy: "JPY", want: "1500 JPY"},
		{v: 1500.4, ccy: "JPY", want: "1500 JPY"},
		{v: "1.2345", ccy: "KWD", want: "1.235 KWD"},
		{v: int64(1999), ccy: "USD", minor: true, want: "19.99 USD"},
		{v: float64(1999), ccy: "USD", minor: true, want: "19.99 USD"},
		{v: "1999", ccy: "USD", minor: true, want: "19.99 USD"},
		{v: 19.99, ccy: "USD", minor: true, err: "minor units"},
		{v: "", ccy: "USD", want: ""},
		{v: "ten", ccy: "USD", err: "not an amount"},
		{v: math.NaN(), ccy: "USD", err: "not a number"},
		{v: true, ccy: "USD", err: "not an amount"},
		{v: int64(math.MaxInt64 / 10), ccy: "USD", err: "out of range"},
	}
	for _, tc := range cases {
		got, err := moneyText(tc.v, tc.is32, tc.ccy, tc.minor)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("moneyText(%#v): want error %q, got %q, %v", tc.v, tc.err, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("moneyText(%#v, is32=%v, %s, minor=%v) = %q, %v; want %q", tc.v, tc.is32, tc.ccy, tc.minor, got, err, tc.want)
		}
	}
}

func TestConvert(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	day := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		c    converter
		v    any
		want string
		err  string
	}{
		{c: converter{kind: vText}, v: nil, want: ""},
		{c: converter{kind: vID}, v: nil, err: "is NULL"},
		{c: converter{kind: vID}, v: "  ", err: "is empty"},
		{c: converter{kind: vID}, v: int64(42), want: "42"},
		{c: converter{kind: vText}, v: true, want: "true"},
		{c: converter{kind: vText}, v: float64(float32(0.3)), want: "0.30000001192092896"},
		{c: converter{kind: vText, float32: true}, v: float64(float32(0.3)), want: "0.3"},
		{c: converter{kind: vText}, v: ts, want: "2024-05-01T10:30:00Z"},
		{c: converter{kind: vText, date: true}, v: day, want: "2026-09-01"},
		{c: converter{kind: vDate}, v: day, want: "2026-09-01"},
		{c: converter{kind: vDate}, v: ts, want: "2024-05-01T10:30:00Z"},
		{c: converter{kind: vDate}, v: "2026-09-01", want: "2026-09-01"},
		{c: converter{kind: vBool}, v: int64(1), want: "true"},
		{c: converter{kind: vBool}, v: int64(0), want: "false"},
		{c: converter{kind: vBool}, v: false, want: "false"},
		{c: converter{kind: vBool}, v: "t", want: "true"},
		{c: converter{kind: vBool}, v: "No", want: "false"},
		{c: converter{kind: vBool}, v: int64(2), err: "not a boolean"},
		{c: converter{kind: vInt}, v: int64(-3), want: "-3"},
		{c: converter{kind: vInt}, v: "5.000", want: "5"},
		{c: converter{kind: vInt}, v: 4.0, want: "4"},
		{c: converter{kind: vInt}, v: 4.5, err: "not a whole number"},
		{c: converter{kind: vMoney, currency: "USD"}, v: nil, want: ""},
	}
	for _, tc := range cases {
		got, err := tc.c.convert(tc.v)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("convert(%#v) with %+v: want error %q, got %q, %v", tc.v, tc.c, tc.err, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("convert(%#v) with %+v = %q, %v; want %q", tc.v, tc.c, got, err, tc.want)
		}
	}
}

func TestCursorText(t *testing.T) {
	ts := time.Date(2024, 6, 2, 8, 30, 0, 250_000_000, time.UTC)
	pg := &state{settings: &settings{driver: driverPostgres}}
	lite := &state{settings: &settings{driver: driverSQLite}}
	if got := pg.cursorText(ts); got != "2024-06-02T08:30:00.25Z" {
		t.Errorf("pg: %s", got)
	}
	if got := lite.cursorText(ts.Truncate(time.Second)); got != "2024-06-02 08:30:00" {
		t.Errorf("sqlite: %s", got)
	}
	if got := lite.cursorText(int64(42)); got != "42" {
		t.Errorf("int: %s", got)
	}
	if !cursorLess(nil, "a") || !cursorLess(int64(9), int64(10)) || cursorLess("b", "a") || !cursorLess(ts, ts.Add(time.Nanosecond)) {
		t.Error("cursorLess")
	}
}

func TestUUID5(t *testing.T) {
	a, b := uuid5("cs_test_1"), uuid5("cs_test_1")
	if a != b || a == uuid5("cs_test_2") || len(a) != 36 || a[14] != '5' || !strings.ContainsAny(a[19:20], "89ab") {
		t.Errorf("uuid5: %s", a)
	}
}
