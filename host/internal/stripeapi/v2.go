package stripeapi

// The v2 Product Catalog Import API (stripe.upload_api: v2; GA since
// 2026-04-22.dahlia, the mode property since 2026-06-24.dahlia):
//
//  1. POST /v2/commerce/product_catalog/imports {feed_type, mode, metadata}
//     through stripe-go's rawrequest (JSON body, Stripe-Version
//     UploaderOptions.V2Version, an idempotency key derived from the part's
//     content and the upload attempt). The answer is status awaiting_upload
//     with status_details.awaiting_upload.upload_url.{url,expires_at}.
//  2. PUT the part to that URL. The URL is a presigned storage URL, not
//     Stripe's API: stripe-go cannot address it (its raw requests take /v1 or
//     /v2 paths on the API host), so this PUT, streamed from the file on disk,
//     is the one request made with plain net/http. The same holds for the
//     error report, which v2 hands out as a presigned download URL
//     (status_details.succeeded_with_errors.error_file.download_url.url,
//     valid for 5 minutes: ErrorReport retrieves the import again for a fresh
//     one). Neither request carries the secret key.
//  3. GET /v2/commerce/product_catalog/imports/{id} until the status is
//     final. Counts arrive as JSON strings ("3").
//
// mode is "upsert" unless FeedFile.Mode says "replace". syncjob asks for
// replace only for a full product feed in one part with deletions on: Stripe
// then deletes every product absent from the file, including ones the
// connector never sent. Inventory and pricing feeds are upsert only.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	stripe "github.com/stripe/stripe-go/v82"
)

type v2Uploader struct {
	c   *Client
	opt UploaderOptions
}

func (u *v2Uploader) API() string { return UploadAPIV2 }

func v2Key(f FeedFile) string {
	return "acs-v2import-" + f.Kind.V2FeedType() + "-" + f.SHA256 + "-" + f.Attempt
}

// UploadFile does nothing: a v2 import takes its file after it is created.
func (u *v2Uploader) UploadFile(ctx context.Context, f FeedFile) (string, error) {
	return "", f.check()
}

func (u *v2Uploader) params(ctx context.Context, key string) *stripe.RawParams {
	return versionedParams(ctx, u.opt.V2Version, key)
}

// StartImport creates the import and PUTs the part to its upload URL. When
// the create call is a replay (a resumed attempt) and the import already has
// its file, the PUT is skipped or its 409 is taken as done.
func (u *v2Uploader) StartImport(ctx context.Context, f FeedFile, _ string) (*Import, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	mode := f.Mode
	if mode == "" {
		mode = "upsert"
	}
	if mode != "upsert" && mode != "replace" {
		return nil, fmt.Errorf("v2 import of %s: mode %q is neither upsert nor replace", f.Path, mode)
	}
	body := map[string]any{"feed_type": f.Kind.V2FeedType(), "mode": mode}
	if len(f.Metadata) > 0 {
		body["metadata"] = f.Metadata
	}
	content, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	key := v2Key(f)
	what := "create v2 " + f.Kind.V2FeedType() + " import"
	resp, err := rawWithRetry(ctx, u.c.log, u.opt, what, func() (*stripe.APIResponse, error) {
		return u.c.rawAPI().RawRequest(http.MethodPost, "/v2/commerce/product_catalog/imports", string(content), u.params(ctx, key))
	})
	if err != nil {
		return nil, err
	}
	imp, err := u.decode(resp.RawJSON)
	if err != nil {
		return nil, permanent("%s: %v", what, err)
	}
	imp.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	if imp.Status != "awaiting_upload" {
		return imp, nil // already has its file
	}
	if imp.UploadURL == "" {
		return nil, permanent("%s %s: status awaiting_upload without an upload URL", what, imp.ID)
	}
	if err := u.put(ctx, imp.UploadURL, f); err != nil {
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusConflict {
			return nil, fmt.Errorf("v2 import %s: %w", imp.ID, err)
		}
		// 409: the file was received by an earlier try of this attempt.
	}
	// The import has its file now: report its current state.
	cur, err := u.Retrieve(ctx, imp.ID)
	if err != nil {
		// The upload happened; the caller polls later.
		imp.Status, imp.Final = "processing", false
		return imp, nil
	}
	cur.Replayed = imp.Replayed
	return cur, nil
}

// storageClient is for presigned URLs: the host's transport, no overall
// timeout (a 4 GB PUT takes a while; the context bounds it).
func (u *v2Uploader) storageClient() *http.Client {
	return &http.Client{Transport: u.c.cfg.HTTPClient.Transport}
}

// put streams the file to the presigned URL (plain net/http: see the file
// comment). Retried on 429, 5xx and network errors.
func (u *v2Uploader) put(ctx context.Context, uploadURL string, f FeedFile) error {
	hc := u.storageClient()
	return withRetry(ctx, u.c.log, u.opt, "upload "+f.fileName()+" to the v2 upload URL", func() error {
		fh, err := os.Open(f.Path)
		if err != nil {
			return &permanentError{err}
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return &permanentError{err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, uploadURL, fh)
		if err != nil {
			return &permanentError{err}
		}
		req.ContentLength = st.Size()
		req.Header.Set("Content-Type", f.contentType())
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		if res.StatusCode/100 != 2 {
			return &HTTPError{Op: "PUT upload URL", StatusCode: res.StatusCode, Body: string(msg)}
		}
		return nil
	})
}

// Retrieve fetches a v2 import.
func (u *v2Uploader) Retrieve(ctx context.Context, id string) (*Import, error) {
	return retrieveImport(ctx, u.c, u.opt, "v2 import", "/v2/commerce/product_catalog/imports/", id, u.params, u.decode)
}

type v2Counts struct {
	ErrorCount   flexInt `json:"error_count"`
	SuccessCount flexInt `json:"success_count"`
}

type v2Import struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	StatusDetails struct {
		AwaitingUpload *struct {
			UploadURL *struct {
				URL string `json:"url"`
			} `json:"upload_url"`
		} `json:"awaiting_upload"`
		Processing          *v2Counts `json:"processing"`
		Succeeded           *v2Counts `json:"succeeded"`
		SucceededWithErrors *struct {
			v2Counts
			ErrorFile *struct {
				DownloadURL *struct {
					URL string `json:"url"`
				} `json:"download_url"`
			} `json:"error_file"`
		} `json:"succeeded_with_errors"`
		Failed *struct {
			Code           string `json:"code"`
			FailureMessage string `json:"failure_message"`
			Type           string `json:"type"`
		} `json:"failed"`
	} `json:"status_details"`
}

func (u *v2Uploader) decode(raw []byte) (*Import, error) {
	var v v2Import
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("decode v2 import: %w", err)
	}
	if v.ID == "" {
		return nil, errors.New("decode v2 import: no id in the response")
	}
	u.c.noteStatus(UploadAPIV2, v.ID, v.Status)
	imp := &Import{ID: v.ID, API: UploadAPIV2}
	imp.Status, imp.Final = NormalizeStatus(v.Status)
	d := v.StatusDetails
	if d.AwaitingUpload != nil && d.AwaitingUpload.UploadURL != nil {
		imp.UploadURL = d.AwaitingUpload.UploadURL.URL
	}
	counts := func(c v2Counts) {
		imp.RowsSucceeded, imp.RowsFailed = int(c.SuccessCount), int(c.ErrorCount)
		imp.RowsProcessed = imp.RowsSucceeded + imp.RowsFailed
	}
	switch {
	case d.SucceededWithErrors != nil:
		counts(d.SucceededWithErrors.v2Counts)
		if ef := d.SucceededWithErrors.ErrorFile; ef != nil && ef.DownloadURL != nil {
			imp.ErrorFile = ef.DownloadURL.URL
		}
	case d.Succeeded != nil:
		counts(*d.Succeeded)
	case d.Processing != nil:
		counts(*d.Processing)
	}
	if f := d.Failed; f != nil {
		imp.FailedReason = f.FailureMessage
		if imp.FailedReason == "" {
			imp.FailedReason = f.Code
		}
	}
	return imp, nil
}

// ErrorReport downloads the error report through a fresh presigned URL (they
// expire after 5 minutes, so the import is retrieved again first).
func (u *v2Uploader) ErrorReport(ctx context.Context, imp *Import) (io.ReadCloser, error) {
	if imp == nil || imp.Status != StatusSucceededWithErrors {
		return nil, nil
	}
	cur, err := u.Retrieve(ctx, imp.ID)
	if err != nil {
		return nil, err
	}
	if cur.ErrorFile == "" {
		return nil, nil
	}
	hc := u.storageClient()
	var body io.ReadCloser
	err = withRetry(ctx, u.c.log, u.opt, "download the error report of v2 import "+imp.ID, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cur.ErrorFile, nil)
		if err != nil {
			return &permanentError{err}
		}
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		if res.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
			res.Body.Close()
			return &HTTPError{Op: "GET error report URL", StatusCode: res.StatusCode, Body: string(msg)}
		}
		body = res.Body
		return nil
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}
