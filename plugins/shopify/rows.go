package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// srcRow is one CSV record and the line it starts on.
type srcRow struct {
	line int
	v    []string
}

// product is the rows of one handle, in file order: rows[0] carries the
// product-level fields and is also the first variant.
type product struct {
	file   string // base name, for origins
	handle string
	rows   []srcRow
	// dupOf is set when the handle already appeared earlier in the read
	// (another file, or a non-contiguous block of the same file).
	dupOf string
}

func (p *product) origin(r srcRow) string { return fmt.Sprintf("%s:%d", p.file, r.line) }

// readExportFile streams one export file and calls emit once per product,
// in file order. Rows of one handle must be contiguous (Shopify writes them
// so); a handle that shows up again later, in this file or in another one,
// becomes a product with dupOf set, whose rows the mapper rejects. seen maps
// handles to the origin of their first row across the whole read.
//
// When want is non-nil the file's SHA-256 must equal it at the end of the
// read; otherwise the file changed between the fingerprint and the read and
// the read fails rather than send a catalog that matches neither version.
func readExportFile(ctx context.Context, path string, want []byte, seen map[string]string, emit func(*header, *product) error) error {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	var h hash.Hash
	var src io.Reader = f
	if want != nil {
		h = sha256.New()
		src = io.TeeReader(f, h)
	}
	br := bufio.NewReaderSize(src, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1 // short rows (trailing empty cells trimmed by an editor) are fine
	cells, err := r.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the file is empty, expected a Shopify product CSV export", name)
	}
	if err != nil {
		return fmt.Errorf("%s: header: %w", name, err)
	}
	hdr := resolveHeader(cells)
	if !hdr.has(fHandle) {
		return fmt.Errorf("%s: no Handle (or URL handle) column in the header; is this a Shopify product CSV export? header starts %q", name, strings.Join(cells[:min(len(cells), 4)], ","))
	}

	var cur *product
	flush := func() error {
		if cur == nil {
			return nil
		}
		p := cur
		cur = nil
		return emit(hdr, p)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		if allEmpty(rec) {
			continue
		}
		for i, c := range rec {
			if !utf8.ValidString(c) {
				return fmt.Errorf("%s:%d: column %d is not valid UTF-8; export the file again from Shopify, or save it as \"CSV UTF-8\" if a spreadsheet edited it", name, line, i+1)
			}
		}
		row := srcRow{line: line, v: rec}
		handle := hdr.get(rec, fHandle)
		if cur != nil && handle != "" && handle == cur.handle {
			cur.rows = append(cur.rows, row)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		cur = &product{file: name, handle: handle, rows: []srcRow{row}}
		if handle == "" {
			// A row without a handle belongs to no product; it is
			// rejected on its own.
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if first, ok := seen[handle]; ok {
			cur.dupOf = first
		} else {
			seen[handle] = cur.origin(row)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if h != nil {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !bytes.Equal(h.Sum(nil), want) {
			return fmt.Errorf("%s changed while it was being read; the next run will pick up the new export", name)
		}
	}
	return nil
}

func allEmpty(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// variantFields are the columns only a variant row fills. A later row of a
// handle with none of them is an image-only row (or an empty one).
var variantFields = []field{fOpt1Value, fOpt2Value, fOpt3Value, fSKU, fPrice, fCompareAt,
	fBarcode, fQty, fVariantImage}

func isVariantRow(h *header, row []string) bool {
	for _, f := range variantFields {
		if h.get(row, f) != "" {
			return true
		}
	}
	return false
}
