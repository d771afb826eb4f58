package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// apiError is Stripe's error object (the value of the top-level "error").
type apiError struct {
	status  int
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	DocURL  string `json:"doc_url,omitempty"`
}

func (a *apiError) Error() string { return a.Message }

func invalidRequest(status int, param, format string, args ...any) *apiError {
	return &apiError{status: status, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

func badParam(param, format string, args ...any) *apiError {
	return invalidRequest(http.StatusBadRequest, param, format, args...)
}

func missingParam(param string) *apiError {
	return &apiError{status: 400, Type: "invalid_request_error", Code: "parameter_missing", Param: param,
		Message: "Missing required param: " + param + ".",
		DocURL:  "https://stripe.com/docs/error-codes/parameter-missing"}
}

func noSuch(status int, what, id, param string) *apiError {
	return &apiError{status: status, Type: "invalid_request_error", Code: "resource_missing", Param: param,
		Message: fmt.Sprintf("No such %s: '%s'", what, id),
		DocURL:  "https://stripe.com/docs/error-codes/resource-missing"}
}

func unrecognizedURL(r *http.Request) *apiError {
	return invalidRequest(http.StatusNotFound, "",
		"Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
		r.Method, r.URL.Path)
}

// call is one parsed API request.
type call struct {
	r       *http.Request
	body    []byte
	form    url.Values // v1: query + form body
	version string     // Stripe-Version sent
	v2      bool
	reqID   string
	idemKey string
}

type callKey struct{}

func callFrom(r *http.Request) *call { return r.Context().Value(callKey{}).(*call) }

// recorder buffers a handler's response so it can be stored for idempotent
// replay and decorated with Stripe's headers.
type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.buf.Write(p)
}
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

type storedResponse struct {
	status int
	header http.Header
	body   []byte
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"type":"api_error","message":"emulator: cannot encode response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeErr(w http.ResponseWriter, a *apiError) {
	status := a.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, map[string]any{"error": a})
}

// maxBody bounds non-file request bodies.
const maxBody = 16 << 20

// serveHTTP is the request pipeline: count, route, authenticate, parse,
// idempotency, dispatch.
func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests = append(e.requests, requestRecord{method: r.Method, path: r.URL.Path})
	e.mu.Unlock()

	reqID := randID("req_", 14)
	w.Header().Set("Request-Id", reqID)

	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		e.serveInternal(w, r)
		return
	}
	isV1 := strings.HasPrefix(r.URL.Path, "/v1/")
	isV2 := strings.HasPrefix(r.URL.Path, "/v2/")
	if !isV1 && !isV2 {
		writeErr(w, unrecognizedURL(r))
		return
	}
	if a := e.authenticate(r); a != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="Stripe"`)
		writeErr(w, a)
		return
	}
	_, pattern := e.mux.Handler(r)
	if pattern == "" {
		writeErr(w, unrecognizedURL(r))
		return
	}

	c := &call{r: r, v2: isV2, reqID: reqID, version: r.Header.Get("Stripe-Version")}
	limit := int64(maxBody)
	if r.URL.Path == "/v1/files" && r.Method == http.MethodPost {
		limit = e.opt.MaxFileBytes + 1<<20
	}
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeErr(w, badParam("", "Could not read the request body: %v", err))
			return
		}
		if int64(len(b)) > limit {
			if r.URL.Path == "/v1/files" {
				writeErr(w, badParam("file", "File size exceeds the maximum of %d bytes (%s) for uploads.",
					e.opt.MaxFileBytes, humanBytes(e.opt.MaxFileBytes)))
			} else {
				writeErr(w, invalidRequest(http.StatusRequestEntityTooLarge, "", "Request body too large."))
			}
			return
		}
		c.body = b
	}
	if isV1 {
		f, err := parseV1Form(r, c.body)
		if err != nil {
			writeErr(w, badParam("", "Invalid request body: %v", err))
			return
		}
		c.form = f
	} else {
		c.form = r.URL.Query()
	}
	if c.version != "" {
		w.Header().Set("Stripe-Version", c.version)
	}
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, c))

	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if r.Method == http.MethodPost && key != "" {
		c.idemKey = key
		w.Header().Set("Idempotency-Key", key)
		e.serveIdempotent(w, r, c, key)
		return
	}
	rec := newRecorder()
	e.mux.ServeHTTP(rec, r)
	flush(w, storedResponse{status: rec.status, header: rec.header, body: rec.buf.Bytes()})
}

func flush(w http.ResponseWriter, s storedResponse) {
	for k, v := range s.header {
		w.Header()[k] = v
	}
	if s.status == 0 {
		s.status = http.StatusOK
	}
	w.WriteHeader(s.status)
	_, _ = w.Write(s.body)
}

// authenticate checks Bearer or basic auth against Options.APIKey.
func (e *Emulator) authenticate(r *http.Request) *apiError {
	key := ""
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Bearer "):
		key = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	case strings.HasPrefix(h, "Basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(h, "Basic ")))
		if err == nil {
			key, _, _ = strings.Cut(string(raw), ":")
		}
	}
	if key == "" {
		return invalidRequest(http.StatusUnauthorized, "",
			"You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
	}
	ok := false
	if e.opt.APIKey != "" {
		ok = key == e.opt.APIKey
	} else {
		ok = strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "rk_test_")
	}
	if !ok {
		return invalidRequest(http.StatusUnauthorized, "", "Invalid API Key provided: %s", redactKey(key))
	}
	return nil
}

func redactKey(k string) string {
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}

// parseV1Form merges the query string with an x-www-form-urlencoded body.
func parseV1Form(r *http.Request, body []byte) (url.Values, error) {
	f := url.Values{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	for k, v := range q {
		f[k] = append(f[k], v...)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if len(body) > 0 && (ct == "application/x-www-form-urlencoded" || ct == "") && r.Method != http.MethodGet {
		b, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range b {
			f[k] = append(f[k], v...)
		}
	}
	return f, nil
}

// --- idempotency ---

type idemEntry struct {
	method, path string
	fingerprint  string
	done         chan struct{}
	resp         *storedResponse
}

func (e *Emulator) serveIdempotent(w http.ResponseWriter, r *http.Request, c *call, key string) {
	fp := fingerprint(r, c.body)
	for {
		e.mu.Lock()
		ent, ok := e.idem[key]
		if !ok {
			ent = &idemEntry{method: r.Method, path: r.URL.Path, fingerprint: fp, done: make(chan struct{})}
			e.idem[key] = ent
			e.mu.Unlock()
			break
		}
		done := ent.done
		e.mu.Unlock()
		<-done // another request with this key is in flight: wait for its result
		e.mu.Lock()
		cur, still := e.idem[key]
		e.mu.Unlock()
		if !still || cur != ent || ent.resp == nil {
			continue // the first attempt stored nothing; execute this one
		}
		if ent.path != r.URL.Path || ent.method != r.Method {
			writeErr(w, &apiError{status: 400, Type: "idempotency_error", Message: fmt.Sprintf(
				"Keys for idempotent requests can only be used for the same endpoint they were first used for ('%s %s' vs '%s %s'). Try using a key other than '%s' if you meant to execute a different request.",
				ent.method, ent.path, r.Method, r.URL.Path, key)})
			return
		}
		if ent.fingerprint != fp {
			writeErr(w, &apiError{status: 400, Type: "idempotency_error", Message: fmt.Sprintf(
				"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", key)})
			return
		}
		s := *ent.resp
		s.header = s.header.Clone()
		s.header.Set("Idempotent-Replayed", "true")
		s.header.Set("Original-Request", s.header.Get("Request-Id"))
		s.header.Set("Request-Id", w.Header().Get("Request-Id"))
		flush(w, s)
		return
	}

	e.mu.Lock()
	ent := e.idem[key]
	e.mu.Unlock()
	finished := false
	defer func() {
		if !finished { // the handler panicked: release requests waiting on the key
			e.mu.Lock()
			delete(e.idem, key)
			close(ent.done)
			e.mu.Unlock()
		}
	}()
	rec := newRecorder()
	rec.header.Set("Request-Id", w.Header().Get("Request-Id"))
	e.mux.ServeHTTP(rec, r)
	s := storedResponse{status: rec.status, header: rec.header, body: append([]byte(nil), rec.buf.Bytes()...)}
	if s.status == 0 {
		s.status = http.StatusOK
	}
	e.mu.Lock()
	if s.status < 400 {
		ent.resp = &s // only executed requests are stored, like Stripe
	} else {
		delete(e.idem, key)
	}
	close(ent.done)
	finished = true
	e.mu.Unlock()
	flush(w, s)
}

// fingerprint canonicalises a request's parameters so that equal parameters
// sent with different encodings (multipart boundaries, key order) match.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var parts []string
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			sum := sha256.Sum256(b)
			parts = append(parts, p.FormName()+"\x00"+p.FileName()+"\x00"+p.Header.Get("Content-Type")+"\x00"+hex.EncodeToString(sum[:]))
		}
		sort.Strings(parts)
		h.Write([]byte(strings.Join(parts, "\x01")))
	case ct == "application/json":
		var v any
		if json.Unmarshal(body, &v) == nil {
			b, _ := json.Marshal(v)
			h.Write(b)
		} else {
			h.Write(body)
		}
	default:
		q, err := url.ParseQuery(string(body))
		if err == nil {
			h.Write([]byte(q.Encode()))
		} else {
			h.Write(body)
		}
	}
	h.Write([]byte{0})
	h.Write([]byte(r.URL.RawQuery))
	return hex.EncodeToString(h.Sum(nil))
}

// --- v1 form helpers ---

// formGet returns the first value of key and whether it was sent.
func formGet(f url.Values, key string) (string, bool) {
	v, ok := f[key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// formList returns key's list values, accepting key, key[] and key[N].
func formList(f url.Values, key string) []string {
	type iv struct {
		i int
		v string
	}
	var out []iv
	n := 0
	for k, vs := range f {
		var idx int
		switch {
		case k == key || k == key+"[]":
			idx = -1
		case strings.HasPrefix(k, key+"[") && strings.HasSuffix(k, "]"):
			i, err := strconv.Atoi(k[len(key)+1 : len(k)-1])
			if err != nil {
				continue
			}
			idx = i
		default:
			continue
		}
		for _, v := range vs {
			n++
			if idx < 0 {
				out = append(out, iv{1<<30 + n, v})
			} else {
				out = append(out, iv{idx, v})
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].i < out[b].i })
	res := make([]string, 0, len(out))
	for _, x := range out {
		if x.v != "" {
			res = append(res, x.v)
		}
	}
	return res
}

// formMap returns key[k]=v pairs as a map (metadata[k]).
func formMap(f url.Values, key string) (map[string]string, bool) {
	m := map[string]string{}
	sent := false
	for k, vs := range f {
		if k == key {
			sent = true // metadata= (empty) clears
			continue
		}
		if strings.HasPrefix(k, key+"[") && strings.HasSuffix(k, "]") && len(vs) > 0 {
			sent = true
			m[k[len(key)+1:len(k)-1]] = vs[len(vs)-1]
		}
	}
	return m, sent
}

// formInt parses an integer parameter.
func formInt(f url.Values, key string) (int64, bool, *apiError) {
	s, ok := formGet(f, key)
	if !ok || s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, badParam(key, "Invalid integer: %s", s)
	}
	return n, true, nil
}

// rangeFilter is a created[gt|gte|lt|lte] (or created=) filter.
type rangeFilter struct {
	eq, gt, gte, lt, lte *int64
}

func (rf rangeFilter) match(v int64) bool {
	if rf.eq != nil && v != *rf.eq {
		return false
	}
	if rf.gt != nil && !(v > *rf.gt) {
		return false
	}
	if rf.gte != nil && !(v >= *rf.gte) {
		return false
	}
	if rf.lt != nil && !(v < *rf.lt) {
		return false
	}
	if rf.lte != nil && !(v <= *rf.lte) {
		return false
	}
	return true
}

func formRange(f url.Values, key string) (rangeFilter, *apiError) {
	var rf rangeFilter
	parse := func(k string) (*int64, *apiError) {
		s, ok := formGet(f, k)
		if !ok || s == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, badParam(k, "Invalid integer: %s", s)
		}
		return &n, nil
	}
	var a *apiError
	if rf.eq, a = parse(key); a != nil {
		return rf, a
	}
	for _, op := range []string{"gt", "gte", "lt", "lte"} {
		p, a := parse(key + "[" + op + "]")
		if a != nil {
			return rf, a
		}
		switch op {
		case "gt":
			rf.gt = p
		case "gte":
			rf.gte = p
		case "lt":
			rf.lt = p
		case "lte":
			rf.lte = p
		}
	}
	for k := range f {
		if strings.HasPrefix(k, key+"[") {
			op := strings.TrimSuffix(strings.TrimPrefix(k, key+"["), "]")
			switch op {
			case "gt", "gte", "lt", "lte":
			default:
				return rf, badParam(k, "Received unknown parameter: %s", k)
			}
		}
	}
	return rf, nil
}

// checkParams rejects top-level parameters outside allowed, like Stripe.
func checkParams(f url.Values, allowed ...string) *apiError {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		top, _, _ := strings.Cut(k, "[")
		if !ok[top] {
			return badParam(top, "Received unknown parameter: %s", top)
		}
	}
	return nil
}

// --- ids ---

const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randID(prefix string, n int) string {
	var sb strings.Builder
	sb.WriteString(prefix)
	max := big.NewInt(int64(len(b62)))
	for i := 0; i < n; i++ {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		sb.WriteByte(b62[x.Int64()])
	}
	return sb.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// --- generic object helpers ---

// deepCopy copies the map/slice structure of a stored object.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	case map[string]string:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = x
		}
		return m
	default:
		return v
	}
}

func copyObj(m map[string]any) map[string]any { return deepCopy(m).(map[string]any) }

func metaAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}
