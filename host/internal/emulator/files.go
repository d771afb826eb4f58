package emulator

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"sort"
	"strings"
)

// Purposes POST /v1/files accepts.
var filePurposes = []string{
	"account_requirement", "additional_verification", "business_icon", "business_logo",
	"customer_signature", "data_management_manual_upload", "dispute_evidence",
	"identity_document", "issuing_regulatory_reporting", "pci_document",
	"platform_terms_of_service", "tax_document_user_upload", "terminal_android_apk",
	"terminal_reader_splashscreen",
}

// errorFilePurpose is the purpose of the error reports the emulator writes.
// Stripe doesn't document it.
const errorFilePurpose = "data_management_import_errors"

type fileRec struct {
	id, filename, purpose, typ, contentType string
	created                                 int64
	data                                    []byte
	// token authorises the presigned-style download URL of v2 error files.
	token string
}

func (f *fileRec) object(base string) map[string]any {
	return map[string]any{
		"id":         f.id,
		"object":     "file",
		"created":    f.created,
		"expires_at": nil,
		"filename":   f.filename,
		"links": map[string]any{
			"object":   "list",
			"data":     []any{},
			"has_more": false,
			"url":      "/v1/file_links?file=" + f.id,
		},
		"purpose": f.purpose,
		"size":    int64(len(f.data)),
		"title":   nil,
		"type":    strOrNil(f.typ),
		"url":     base + "/v1/files/" + f.id + "/contents",
	}
}

// addFileLocked stores a file; e.mu must be held.
func (e *Emulator) addFileLocked(filename, purpose, typ, contentType string, data []byte) *fileRec {
	f := &fileRec{
		id: randID("file_1", 23), filename: filename, purpose: purpose, typ: typ,
		contentType: contentType, created: e.now().Unix(), data: data, token: randID("", 32),
	}
	e.files[f.id] = f
	e.fileOrder = append(e.fileOrder, f.id)
	return f
}

func (e *Emulator) createFile(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		writeErr(w, badParam("", "Files must be uploaded as multipart/form-data (got Content-Type %q).", r.Header.Get("Content-Type")))
		return
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	var (
		purpose            string
		havePurpose        bool
		fileData           []byte
		fileName, partType string
		haveFile           bool
	)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeErr(w, badParam("", "Invalid multipart body: %v", err))
			return
		}
		b, err := io.ReadAll(p)
		if err != nil {
			writeErr(w, badParam("", "Invalid multipart body: %v", err))
			return
		}
		name := p.FormName()
		top, _, _ := strings.Cut(name, "[")
		switch {
		case name == "purpose":
			purpose, havePurpose = string(b), true
		case name == "file":
			fileData, fileName, partType, haveFile = b, p.FileName(), p.Header.Get("Content-Type"), true
		case top == "file_link_data" || top == "expand":
		default:
			writeErr(w, badParam(top, "Received unknown parameter: %s", top))
			return
		}
	}
	if !havePurpose || purpose == "" {
		writeErr(w, missingParam("purpose"))
		return
	}
	if !haveFile {
		writeErr(w, missingParam("file"))
		return
	}
	if !contains(filePurposes, purpose) {
		sorted := append([]string(nil), filePurposes...)
		sort.Strings(sorted)
		writeErr(w, badParam("purpose", "Invalid purpose: must be one of %s", strings.Join(sorted, ", ")))
		return
	}
	if int64(len(fileData)) > e.opt.MaxFileBytes {
		writeErr(w, badParam("file", "File size (%d bytes) exceeds the maximum of %d bytes (%s) for purpose %s.",
			len(fileData), e.opt.MaxFileBytes, humanBytes(e.opt.MaxFileBytes), purpose))
		return
	}
	if len(fileData) == 0 {
		writeErr(w, badParam("file", "The file you uploaded is empty."))
		return
	}
	mt, _, _ := mime.ParseMediaType(partType)
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(fileName), "."))
	typ := ext
	if purpose == "data_management_manual_upload" {
		var want string
		switch {
		case ext == "csv" || (ext == "" && mt == "text/csv"):
			typ, want = "csv", "text/csv"
		case ext == "tsv" || (ext == "" && mt == "text/tab-separated-values"):
			typ, want = "tsv", "text/tab-separated-values"
		default:
			writeErr(w, badParam("file", "Invalid file %q: files with purpose data_management_manual_upload must be CSV (.csv, sent as text/csv) or TSV (.tsv, sent as text/tab-separated-values).", fileName))
			return
		}
		if mt != want {
			shown := partType
			if shown == "" {
				shown = "none"
			}
			writeErr(w, badParam("file", "The file's MIME type (%s) doesn't match its format: %s files with purpose data_management_manual_upload must be sent with Content-Type %s.", shown, strings.ToUpper(typ), want))
			return
		}
	}
	base := e.base(r)
	e.mu.Lock()
	f := e.addFileLocked(fileName, purpose, typ, mt, fileData)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, f.object(base))
}

func (e *Emulator) getFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	f, ok := e.files[id]
	e.mu.Unlock()
	if !ok {
		writeErr(w, noSuch(404, "file upload", id, "file"))
		return
	}
	writeJSON(w, http.StatusOK, f.object(e.base(r)))
}

func (e *Emulator) getFileContents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e.mu.Lock()
	f, ok := e.files[id]
	e.mu.Unlock()
	if !ok {
		writeErr(w, noSuch(404, "file upload", id, "file"))
		return
	}
	writeFileBytes(w, f)
}

func writeFileBytes(w http.ResponseWriter, f *fileRec) {
	ct := f.contentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", f.filename))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.data)
}

func (e *Emulator) listFiles(w http.ResponseWriter, r *http.Request) {
	c := callFrom(r)
	if a := checkParams(c.form, "created", "ending_before", "expand", "limit", "purpose", "starting_after"); a != nil {
		writeErr(w, a)
		return
	}
	rf, a := formRange(c.form, "created")
	if a != nil {
		writeErr(w, a)
		return
	}
	purpose, _ := formGet(c.form, "purpose")
	base := e.base(r)
	e.mu.Lock()
	var items []map[string]any
	for i := len(e.fileOrder) - 1; i >= 0; i-- {
		f := e.files[e.fileOrder[i]]
		if (purpose == "" || f.purpose == purpose) && rf.match(f.created) {
			items = append(items, f.object(base))
		}
	}
	e.mu.Unlock()
	page, a := paginate(c.form, items, "file", "/v1/files")
	if a != nil {
		writeErr(w, a)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
