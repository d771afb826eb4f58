package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
)

// GoBench is one result line of `go test -bench` output.
type GoBench struct {
	Name   string             // without the -GOMAXPROCS suffix
	N      int                // iterations
	Values map[string]float64 // unit -> value (ns/op, MB/s, B/op, allocs/op, custom units)
}

// parseGoBench reads `go test -bench` output; results appear in the order
// they were printed, so the k-th result of a name is from round k.
func parseGoBench(path string) (map[string][]GoBench, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]GoBench{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		b := GoBench{Name: name, N: n, Values: map[string]float64{}}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			b.Values[fields[i+1]] = v
		}
		out[name] = append(out[name], b)
	}
	return out, sc.Err()
}

// readJSONL decodes every JSON object line of path whose "bench" field is
// bench into a T, in order.
func readJSONL[T any](path, bench string) ([]T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []T
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var kind struct {
			Bench string `json:"bench"`
		}
		if json.Unmarshal(line, &kind) != nil || kind.Bench != bench {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Stat is the median and range of a figure over rounds.
type Stat struct {
	Med, Min, Max float64
	N             int
}

func stat(vs []float64) Stat {
	if len(vs) == 0 {
		return Stat{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Med: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// spread is (max-min)/median, the relative noise of a figure.
func (s Stat) spread() float64 {
	if s.Med == 0 {
		return 0
	}
	return (s.Max - s.Min) / s.Med
}

// ratios pairs a[i] with b[i] (the same round) and returns a[i]/b[i].
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

func field[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
