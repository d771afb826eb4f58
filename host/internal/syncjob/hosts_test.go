package syncjob

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/store"
)

// TestImportFinishedOnceByPollingHosts has several Runners (hosts sharing
// the database) poll one import that Stripe accepts with errors: one of them
// finishes it, so its rejected rows are stored once.
func TestImportFinishedOnceByPollingHosts(t *testing.T) {
	for _, sc := range storeCases(t) {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{openStore: sc.open, reject: func(kind string, header, row []string) []string {
				if strings.HasSuffix(row[0], "7") {
					return []string{"title: rejected by the test"}
				}
				return nil
			}})
			var rows []string
			rejected := 0
			for i := 0; i < 2000; i++ {
				id := fmt.Sprintf("P%04d", i)
				rows = append(rows, product(id, 1, "1.00 USD"))
				if strings.HasSuffix(id, "7") {
					rejected++
				}
			}
			e.writeData("products.csv", products(rows...))
			res := e.run(job("catalog"))
			if len(res.Uploads) != 1 {
				t.Fatalf("uploads: %v", res.Uploads)
			}
			hosts := []*Runner{e.r}
			for i := 0; i < 3; i++ {
				hosts = append(hosts, New(Options{Store: e.st, Stripe: e.sc, Plugin: e.mgr.Get, StateDir: t.TempDir(),
					Logger: testLogger(t), PollInterval: 20 * time.Millisecond}))
			}
			var wg sync.WaitGroup
			for _, r := range hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(15 * time.Second)
					for time.Now().Before(deadline) {
						if err := r.PollPending(context.Background()); err != nil {
							t.Error(err)
							return
						}
						u, err := e.st.GetUpload(context.Background(), res.Uploads[0])
						if err != nil {
							t.Error(err)
							return
						}
						if store.IsFinalUploadStatus(u.Status) {
							return
						}
					}
					t.Error("the import never finished")
				}()
			}
			wg.Wait()
			errs, err := e.st.UploadErrors(context.Background(), res.Uploads[0], 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) != rejected {
				t.Errorf("%d error rows stored for %d rejected rows", len(errs), rejected)
			}
		})
	}
}
