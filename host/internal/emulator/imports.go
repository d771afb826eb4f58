package emulator

import (
	"bytes"
	"container/heap"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ImportSetInfo describes one import (legacy ImportSet or v2 import) for
// tests.
type ImportSetInfo struct {
	ID     string
	API    string // "v1" (ImportSet) or "v2" (product catalog import)
	Kind   string // KindProduct, KindInventory, KindPrice
	Format string // standard_data_format (v1) or feed_type (v2)
	Mode   string // v2: upsert or replace; v1: upsert
	File   string // v1: the uploaded file's id; v2: empty
	// FileName is the uploaded file's name (v1) or "upload.csv" (v2).
	FileName      string
	Status        string
	CreatedOrder  int // 1-based, shared by v1 and v2 (the seq given to ProcessingDelay)
	FinishedOrder int // 1-based order of finishing; 0 while in progress
	Created       time.Time
	Finished      time.Time
	RowsProcessed int
	Successes     int
	Errors        int
	ErrorFile     string // file id of the error report, if any
	FailedReason  string
}

type importJob struct {
	id, api, kind, format, mode string
	seq                         int
	fileID, fileName            string
	tsv                         bool
	data                        []byte
	created, finished           time.Time
	status                      string
	metadata                    map[string]string
	base                        string

	uploadToken   string
	uploadExpires time.Time

	rowsProcessed, successes, errorCount int
	errorFileID                          string
	failedReason                         string
	samples                              []rowError
	finishedOrder                        int
}

type rowError struct {
	line  int
	id    string
	field string
	msg   string
}

var v1Formats = map[string]string{
	"product_catalog_feed": KindProduct,
	"inventory_feed":       KindInventory,
	"price_feed":           KindPrice,
}

var v2FeedTypes = map[string]string{
	"product":   KindProduct,
	"inventory": KindInventory,
	"pricing":   KindPrice,
}

func (j *importJob) info() ImportSetInfo {
	name := j.fileName
	return ImportSetInfo{
		ID: j.id, API: j.api, Kind: j.kind, Format: j.format, Mode: j.mode, File: j.fileID,
		FileName: name, Status: j.status, CreatedOrder: j.seq, FinishedOrder: j.finishedOrder,
		Created: j.created, Finished: j.finished, RowsProcessed: j.rowsProcessed,
		Successes: j.successes, Errors: j.errorCount, ErrorFile: j.errorFileID, FailedReason: j.failedReason,
	}
}

// ImportSets lists every import (v1 and v2) in creation order.
func (e *Emulator) ImportSets() []ImportSetInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ImportSetInfo, 0, len(e.impOrder))
	for _, id := range e.impOrder {
		out = append(out, e.impsets[id].info())
	}
	return out
}

// Catalog returns the catalog as the finished imports left it: id -> feed
// column -> value. Imports apply in the order they finished. A product row
// replaces the product's columns (empty cells are dropped); inventory and
// price rows update only their columns (an empty cell removes the column);
// delete=true removes the product.
func (e *Emulator) Catalog() map[string]map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]map[string]string, len(e.catalog))
	for id, cols := range e.catalog {
		m := make(map[string]string, len(cols))
		for k, v := range cols {
			m[k] = v
		}
		out[id] = m
	}
	return out
}

// --- legacy ImportSets ---

func (e *Emulator) checkPreview(w http.ResponseWriter, c *call) bool {
	if c.version == e.opt.PreviewVersion {
		return true
	}
	got := c.version
	if got == "" {
		got = "(none)"
	}
	writeErr(w, badParam("", "The data_management API is in preview: send the header `Stripe-Version: %s` (got Stripe-Version: %s).",
		e.opt.PreviewVersion, got))
	return false
}

func (j *importJob) v1Object(withStatus bool) map[string]any {
	var errFile any
	if j.errorFileID != "" {
		errFile = j.errorFileID
	}
	m := map[string]any{
		"id":            j.id,
		"object":        "data_management.import_set",
		"created":       j.created.Unix(),
		"file":          j.fileID,
		"livemode":      false,
		"failed_reason": strOrNil(j.failedReason),
		"result": map[string]any{
			"errors":             map[string]any{"file": errFile, "row_count": int64(j.errorCount)},
			"objects_created":    int64(j.successes),
			"rows_processed":     int64(j.rowsProcessed),
			"skipped_by_filter":  int64(0),
			"skipped_duplicates": int64(0),
			"successes":          map[string]any{"row_count": int64(j.successes)},
		},
	}
	if withStatus {
		m["status"] = j.status
	}
	return m
}

func (e *Emulator) createImportSet(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if !e.checkPreview(w, c) {
		return
	}
	if a := checkParams(c.form, "expand", "file", "metadata", "standard_data_format"); a != nil {
		writeErr(w, a)
		return
	}
	fileID, _ := formGet(c.form, "file")
	if fileID == "" {
		writeErr(w, missingParam("file"))
		return
	}
	format, _ := formGet(c.form, "standard_data_format")
	if format == "" {
		writeErr(w, missingParam("standard_data_format"))
		return
	}
	kind, ok := v1Formats[format]
	if !ok {
		writeErr(w, badParam("standard_data_format", "Invalid standard_data_format: must be one of inventory_feed, price_feed, or product_catalog_feed (got %q).", format))
		return
	}
	e.mu.Lock()
	f, ok := e.files[fileID]
	if !ok {
		e.mu.Unlock()
		writeErr(w, noSuch(400, "file", fileID, "file"))
		return
	}
	if f.purpose != "data_management_manual_upload" {
		e.mu.Unlock()
		writeErr(w, badParam("file", "File %s has purpose %s; an ImportSet needs a file uploaded with purpose data_management_manual_upload.", fileID, f.purpose))
		return
	}
	e.importSeq++
	j := &importJob{
		id: randID("impset_test_61", 28), api: "v1", kind: kind, format: format, mode: "upsert",
		seq: e.importSeq, fileID: f.id, fileName: f.filename, tsv: f.typ == "tsv", data: f.data,
		created: e.now(), status: "pending",
	}
	e.impsets[j.id] = j
	e.impOrder = append(e.impOrder, j.id)
	obj := j.v1Object(false) // like Stripe, the create response has no status
	e.mu.Unlock()

	delay := e.opt.ProcessingDelay(kind, j.seq)
	now := time.Now()
	e.schedule(schedItem{due: now.Add(delay / 2), seq: j.seq, stage: stageCreatingRecords, job: j})
	e.schedule(schedItem{due: now.Add(delay), seq: j.seq, stage: stageFinish, job: j})
	e.log.Debug("stripe emulator: import set created", "id", j.id, "format", format, "file", fileID, "delay", delay)
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) getImportSet(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if !e.checkPreview(w, c) {
		return
	}
	id := r.PathValue("id")
	e.mu.Lock()
	j, ok := e.impsets[id]
	var obj map[string]any
	if ok && j.api == "v1" {
		obj = j.v1Object(true)
	}
	e.mu.Unlock()
	if obj == nil {
		writeErr(w, noSuch(404, "data_management.import_set", id, "id"))
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// --- v2 product catalog imports ---

func rfc3339ms(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (j *importJob) v2Object() map[string]any {
	details := map[string]any{}
	switch j.status {
	case "awaiting_upload":
		details["awaiting_upload"] = map[string]any{"upload_url": map[string]any{
			"url":        j.base + "/_emulator/uploads/" + j.id + "?token=" + j.uploadToken,
			"expires_at": rfc3339ms(j.uploadExpires),
		}}
	case "processing":
		details["processing"] = map[string]any{"error_count": "0", "success_count": "0"}
	case "succeeded":
		details["succeeded"] = map[string]any{"success_count": strconv.Itoa(j.successes)}
	case "succeeded_with_errors":
		samples := []any{}
		for i, s := range j.samples {
			if i == 5 {
				break
			}
			samples = append(samples, map[string]any{
				"error_message": s.msg,
				"field":         s.field,
				"id":            s.id,
				"row":           strconv.Itoa(s.line),
			})
		}
		details["succeeded_with_errors"] = map[string]any{
			"error_count":   strconv.Itoa(j.errorCount),
			"success_count": strconv.Itoa(j.successes),
			"samples":       samples,
			"error_file": map[string]any{
				"content_type": "text/csv",
				"size":         "0", // filled in by the renderer
				"download_url": nil,
			},
		}
	case "failed":
		details["failed"] = map[string]any{"code": "invalid_file", "failure_message": j.failedReason, "type": "cannot_proceed"}
	}
	md := map[string]any{}
	for k, v := range j.metadata {
		md[k] = v
	}
	return map[string]any{
		"id":             j.id,
		"object":         "v2.commerce.product_catalog_import",
		"created":        rfc3339ms(j.created),
		"feed_type":      j.format,
		"livemode":       false,
		"metadata":       md,
		"mode":           j.mode,
		"status":         j.status,
		"status_details": details,
	}
}

// renderV2Locked renders a v2 import, filling in the error file's
// presigned-style download URL (valid 5 minutes from now). e.mu must be held.
func (e *Emulator) renderV2Locked(j *importJob) map[string]any {
	obj := j.v2Object()
	if j.status == "succeeded_with_errors" && j.errorFileID != "" {
		if f, ok := e.files[j.errorFileID]; ok {
			exp := e.now().Add(5 * time.Minute)
			ef := obj["status_details"].(map[string]any)["succeeded_with_errors"].(map[string]any)["error_file"].(map[string]any)
			ef["size"] = strconv.Itoa(len(f.data))
			ef["download_url"] = map[string]any{
				"url":        fmt.Sprintf("%s/_emulator/downloads/%s?token=%s&expires=%d", j.base, f.id, f.token, exp.Unix()),
				"expires_at": rfc3339ms(exp),
			}
		}
	}
	return obj
}

func writeV2Err(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeErr(w, &apiError{status: status, Type: "invalid_request_error", Code: code, Message: fmt.Sprintf(format, args...)})
}

func (e *Emulator) createV2Import(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	var raw map[string]json.RawMessage
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		writeV2Err(w, 400, "invalid_json", "Request body is not a JSON object: %v", err)
		return
	}
	var req struct {
		FeedType *string           `json:"feed_type"`
		Mode     *string           `json:"mode"`
		Metadata map[string]string `json:"metadata"`
	}
	for k := range raw {
		switch k {
		case "feed_type", "mode", "metadata":
		default:
			writeV2Err(w, 400, "parameter_unknown", "Received unknown parameter: %s", k)
			return
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeV2Err(w, 400, "invalid_value", "Invalid request: %v", err)
		return
	}
	if req.FeedType == nil || *req.FeedType == "" {
		writeV2Err(w, 400, "parameter_missing", "Missing required param: feed_type.")
		return
	}
	kind, ok := v2FeedTypes[*req.FeedType]
	if !ok {
		writeV2Err(w, 400, "invalid_value", "Invalid feed_type %q: the emulator supports product, inventory and pricing.", *req.FeedType)
		return
	}
	mode := "upsert"
	if req.Mode != nil && *req.Mode != "" {
		mode = *req.Mode
	}
	if mode != "upsert" && mode != "replace" {
		writeV2Err(w, 400, "invalid_value", "Invalid mode %q: must be one of upsert, replace.", mode)
		return
	}
	if mode == "replace" && kind != KindProduct {
		writeV2Err(w, 400, "invalid_value", "mode replace is only supported for feed_type product (got feed_type %s).", *req.FeedType)
		return
	}
	base := e.base(r)
	e.mu.Lock()
	e.importSeq++
	now := e.now()
	j := &importJob{
		id: randID("pcimprt_test_61", 40), api: "v2", kind: kind, format: *req.FeedType, mode: mode,
		seq: e.importSeq, fileName: "upload.csv", created: now, status: "awaiting_upload",
		metadata: req.Metadata, base: base, uploadToken: randID("", 32), uploadExpires: now.Add(time.Hour),
	}
	e.impsets[j.id] = j
	e.impOrder = append(e.impOrder, j.id)
	obj := e.renderV2Locked(j)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) getV2Import(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	j, ok := e.impsets[id]
	var obj map[string]any
	if ok && j.api == "v2" {
		obj = e.renderV2Locked(j)
	}
	e.mu.Unlock()
	if obj == nil {
		writeV2Err(w, 404, "resource_missing", "No such product_catalog_import: '%s'", id)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (e *Emulator) listV2Imports(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	ft := c.form.Get("feed_type")
	st := c.form.Get("status")
	limit := 20
	if s := c.form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			writeV2Err(w, 400, "invalid_value", "Invalid limit %q: must be between 1 and 100.", s)
			return
		}
		limit = n
	}
	offset := 0
	if s := c.form.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeV2Err(w, 400, "invalid_value", "Invalid page token %q.", s)
			return
		}
		offset = n
	}
	e.mu.Lock()
	var all []any
	for i := len(e.impOrder) - 1; i >= 0; i-- {
		j := e.impsets[e.impOrder[i]]
		if j.api != "v2" || (ft != "" && j.format != ft) || (st != "" && j.status != st) {
			continue
		}
		all = append(all, e.renderV2Locked(j))
	}
	e.mu.Unlock()
	if offset > len(all) {
		offset = len(all)
	}
	end := offset + limit
	var next any
	if end < len(all) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(end))
		next = "/v2/commerce/product_catalog/imports?" + q.Encode()
	} else {
		end = len(all)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": all[offset:end], "next_page_url": next, "previous_page_url": nil})
}

// uploadV2 is the presigned-style PUT target of a v2 import.
func (e *Emulator) uploadV2(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPut {
		http.Error(w, "upload URLs take PUT", http.StatusMethodNotAllowed)
		return
	}
	e.mu.Lock()
	j, ok := e.impsets[id]
	e.mu.Unlock()
	if !ok || j.api != "v2" || r.URL.Query().Get("token") != j.uploadToken {
		http.Error(w, "AccessDenied: the upload URL is not valid", http.StatusForbidden)
		return
	}
	if e.now().After(j.uploadExpires) {
		http.Error(w, "AccessDenied: the upload URL has expired; create a new import", http.StatusForbidden)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	tsv := false
	switch mt {
	case "text/csv":
	case "text/tab-separated-values":
		tsv = true
	default:
		http.Error(w, fmt.Sprintf("InvalidContentType: upload the feed with Content-Type text/csv or text/tab-separated-values (got %q)", r.Header.Get("Content-Type")), http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, e.opt.MaxUploadBytes+1))
	if err != nil {
		http.Error(w, "cannot read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(data)) > e.opt.MaxUploadBytes {
		http.Error(w, fmt.Sprintf("EntityTooLarge: the upload exceeds %s", humanBytes(e.opt.MaxUploadBytes)), http.StatusRequestEntityTooLarge)
		return
	}
	e.mu.Lock()
	if j.status != "awaiting_upload" {
		e.mu.Unlock()
		http.Error(w, "Conflict: this import already received its file", http.StatusConflict)
		return
	}
	j.data, j.tsv, j.status = data, tsv, "processing"
	if tsv {
		j.fileName = "upload.tsv"
	}
	ev := e.thinEventLocked("v2.commerce.product_catalog.imports.processing", j)
	e.mu.Unlock()
	e.deliver(ev)
	delay := e.opt.ProcessingDelay(j.kind, j.seq)
	e.schedule(schedItem{due: time.Now().Add(delay), seq: j.seq, stage: stageFinish, job: j})
	w.WriteHeader(http.StatusOK)
}

// --- scheduler: finishes imports in deadline order (ties: creation order) ---

const (
	stageCreatingRecords = 1
	stageFinish          = 2
)

type schedItem struct {
	due   time.Time
	seq   int
	stage int
	job   *importJob
}

type schedHeap []schedItem

func (h schedHeap) Len() int { return len(h) }
func (h schedHeap) Less(a, b int) bool {
	if !h[a].due.Equal(h[b].due) {
		return h[a].due.Before(h[b].due)
	}
	if h[a].seq != h[b].seq {
		return h[a].seq < h[b].seq
	}
	return h[a].stage < h[b].stage
}
func (h schedHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *schedHeap) Push(x any)   { *h = append(*h, x.(schedItem)) }
func (h *schedHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

type scheduler struct {
	mu    sync.Mutex
	items schedHeap
	wake  chan struct{}
}

func (e *Emulator) schedule(it schedItem) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if e.sched == nil {
		e.sched = &scheduler{wake: make(chan struct{}, 1)}
		e.wg.Add(1)
		go e.runScheduler(e.sched)
	}
	s := e.sched
	e.mu.Unlock()
	s.mu.Lock()
	heap.Push(&s.items, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (e *Emulator) runScheduler(s *scheduler) {
	defer e.wg.Done()
	for {
		s.mu.Lock()
		wait := time.Hour
		var due *schedItem
		if len(s.items) > 0 {
			if d := time.Until(s.items[0].due); d <= 0 {
				it := heap.Pop(&s.items).(schedItem)
				due = &it
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if e.ctx.Err() != nil {
			return
		}
		if due != nil {
			e.runStage(*due)
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

func (e *Emulator) runStage(it schedItem) {
	j := it.job
	switch it.stage {
	case stageCreatingRecords:
		e.mu.Lock()
		if j.status == "pending" {
			j.status = "creating_records"
		}
		e.mu.Unlock()
	case stageFinish:
		e.finishImport(j)
	}
}

// --- processing ---

type parsedRow struct {
	line   int
	fields []string
	id     string
	del    bool
	errs   []string
	field  string
}

// parseFeed reads a CSV/TSV feed. reason is non-empty when the whole file is
// unusable.
func parseFeed(data []byte, tsv bool) (header []string, rows []*parsedRow, reason string) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	rd := csv.NewReader(bytes.NewReader(data))
	rd.FieldsPerRecord = -1
	if tsv {
		rd.Comma = '\t'
		rd.LazyQuotes = true
	}
	first := true
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, fmt.Sprintf("The file could not be parsed as %s: line %d, column %d: %v", fmtName(tsv), pe.Line, pe.Column, pe.Err)
			}
			return nil, nil, fmt.Sprintf("The file could not be parsed as %s: %v", fmtName(tsv), err)
		}
		line, _ := rd.FieldPos(0)
		if first {
			first = false
			header = make([]string, len(rec))
			for i, h := range rec {
				header[i] = strings.TrimSpace(h)
			}
			continue
		}
		rows = append(rows, &parsedRow{line: line, fields: rec})
	}
	if header == nil {
		return nil, nil, "The file is empty: it has no header row."
	}
	seen := map[string]bool{}
	for _, h := range header {
		if h == "" {
			return nil, nil, "The header row has an empty column name."
		}
		if seen[strings.ToLower(h)] {
			return nil, nil, fmt.Sprintf("The header row names column %q twice.", h)
		}
		seen[strings.ToLower(h)] = true
	}
	if colIndex(header, "id") < 0 {
		return nil, nil, fmt.Sprintf("The header row has no id column (found: %s). Every feed file needs an id column.", strings.Join(header, ", "))
	}
	return header, rows, ""
}

func fmtName(tsv bool) string {
	if tsv {
		return "TSV"
	}
	return "CSV"
}

func colIndex(header []string, name string) int {
	for i, h := range header {
		if strings.EqualFold(h, name) {
			return i
		}
	}
	return -1
}

// checkRows applies the emulator's own row checks and Options.RowChecker.
func (e *Emulator) checkRows(kind string, header []string, rows []*parsedRow) {
	idCol := colIndex(header, "id")
	delCol := -1
	if kind == KindProduct {
		delCol = colIndex(header, "delete")
	}
	firstLine := map[string]int{}
	for _, row := range rows {
		if len(row.fields) != len(header) {
			row.errs = append(row.errs, fmt.Sprintf("The row has %d fields but the header has %d.", len(row.fields), len(header)))
			if idCol < len(row.fields) {
				row.id = strings.TrimSpace(row.fields[idCol])
			}
			continue
		}
		row.id = strings.TrimSpace(row.fields[idCol])
		if row.id == "" {
			row.errs = append(row.errs, "id is required.")
			row.field = "id"
			continue
		}
		if l, dup := firstLine[row.id]; dup {
			row.errs = append(row.errs, fmt.Sprintf("Duplicate id %q: it already appears on line %d.", row.id, l))
			row.field = "id"
			continue
		}
		firstLine[row.id] = row.line
		if delCol >= 0 {
			switch strings.ToLower(strings.TrimSpace(row.fields[delCol])) {
			case "true":
				row.del = true
			case "false", "":
			default:
				row.errs = append(row.errs, fmt.Sprintf("delete must be true or false (got %q).", row.fields[delCol]))
				row.field = "delete"
				continue
			}
		}
		if row.del || e.opt.RowChecker == nil {
			continue
		}
		if probs := e.runRowChecker(kind, header, row.fields); len(probs) > 0 {
			row.errs = append(row.errs, probs...)
			row.field = guessField(header, probs[0])
		}
	}
}

// runRowChecker calls Options.RowChecker on copies of the header and row,
// turning a panic into a row problem so that host code can't kill the
// emulator's scheduler.
func (e *Emulator) runRowChecker(kind string, header, row []string) (probs []string) {
	defer func() {
		if r := recover(); r != nil {
			probs = []string{fmt.Sprintf("emulator: the row checker panicked: %v", r)}
		}
	}()
	return e.opt.RowChecker(kind, append([]string(nil), header...), append([]string(nil), row...))
}

// guessField picks the first header column named in msg, for v2 samples.
func guessField(header []string, msg string) string {
	best, at := "", -1
	for _, h := range header {
		if i := strings.Index(msg, h); i >= 0 && (at < 0 || i < at || (i == at && len(h) > len(best))) {
			best, at = h, i
		}
	}
	return best
}

// finishImport checks and applies an import's rows and records the result.
func (e *Emulator) finishImport(j *importJob) {
	e.mu.Lock()
	data, tsv := j.data, j.tsv
	e.mu.Unlock()

	header, rows, reason := parseFeed(data, tsv)
	if reason == "" {
		e.checkRows(j.kind, header, rows)
	}

	e.mu.Lock()
	j.finished = e.now()
	e.finishSeq++
	j.finishedOrder = e.finishSeq
	if reason != "" {
		j.status, j.failedReason = "failed", reason
	} else {
		e.applyRowsLocked(j, header, rows)
	}
	var ev *eventOut
	if j.api == "v1" {
		typ := "data_management.import_set.succeeded"
		if j.status == "failed" {
			typ = "data_management.import_set.failed"
		}
		ev = e.v1EventLocked(typ, j.v1Object(true), nil)
	} else {
		ev = e.thinEventLocked("v2.commerce.product_catalog.imports."+j.status, j)
	}
	e.mu.Unlock()
	e.log.Debug("stripe emulator: import finished", "id", j.id, "status", j.status,
		"rows", j.rowsProcessed, "errors", j.errorCount, "order", j.finishedOrder)
	e.deliver(ev)
}

// applyRowsLocked applies accepted rows to the catalog. e.mu must be held.
func (e *Emulator) applyRowsLocked(j *importJob, header []string, rows []*parsedRow) {
	inFile := map[string]bool{}
	var failed []*parsedRow
	for _, row := range rows {
		if row.id != "" {
			inFile[row.id] = true
		}
		if len(row.errs) == 0 && !row.del && j.kind != KindProduct {
			if _, ok := e.catalog[row.id]; !ok {
				row.errs = append(row.errs, fmt.Sprintf("id %q is not in the product catalog: send it in a product feed first.", row.id))
				row.field = "id"
			}
		}
		if len(row.errs) > 0 {
			failed = append(failed, row)
			continue
		}
		switch {
		case row.del:
			delete(e.catalog, row.id)
		case j.kind == KindProduct:
			cols := map[string]string{}
			for i, h := range header {
				if strings.EqualFold(h, "delete") || row.fields[i] == "" {
					continue
				}
				cols[h] = row.fields[i]
			}
			e.catalog[row.id] = cols
		default:
			cols := e.catalog[row.id]
			for i, h := range header {
				if row.fields[i] == "" {
					delete(cols, h)
				} else {
					cols[h] = row.fields[i]
				}
			}
		}
	}
	if j.mode == "replace" {
		for id := range e.catalog {
			if !inFile[id] {
				delete(e.catalog, id)
			}
		}
	}
	j.rowsProcessed = len(rows)
	j.errorCount = len(failed)
	j.successes = len(rows) - len(failed)
	j.status = "succeeded"
	if len(failed) == 0 {
		return
	}
	j.status = "succeeded_with_errors"
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(append([]string{"stripe_error_message"}, header...))
	for _, row := range failed {
		_ = cw.Write(append([]string{strings.Join(row.errs, " ")}, row.fields...))
		j.samples = append(j.samples, rowError{line: row.line, id: row.id, field: row.field, msg: strings.Join(row.errs, " ")})
	}
	cw.Flush()
	f := e.addFileLocked(j.id+"_errors.csv", errorFilePurpose, "csv", "text/csv", buf.Bytes())
	j.errorFileID = f.id
}

// serveDownload serves a v2 error file through its presigned-style URL.
func (e *Emulator) serveDownload(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "download URLs take GET", http.StatusMethodNotAllowed)
		return
	}
	e.mu.Lock()
	f, ok := e.files[id]
	e.mu.Unlock()
	if !ok || r.URL.Query().Get("token") != f.token {
		http.Error(w, "AccessDenied: the download URL is not valid", http.StatusForbidden)
		return
	}
	exp, err := strconv.ParseInt(r.URL.Query().Get("expires"), 10, 64)
	if err != nil || e.now().Unix() > exp {
		http.Error(w, "AccessDenied: the download URL has expired; retrieve the import again for a new one", http.StatusForbidden)
		return
	}
	writeFileBytes(w, f)
}
