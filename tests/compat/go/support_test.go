// Package compat drives the unmodified Go SDKs (aws-sdk-go-v2 and its transfer manager,
// minio-go) against a running `ferry serve`. The pytest file tests/compat/test_go_sdks.py
// builds this package once with `go test -c`, starts the server, and runs one test per
// scenario with the server's address and keys in the environment; each test writes what it
// saw to $FERRY_WORKDIR/result.json, which pytest checks again with boto3.
package compat

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

const mib = 1024 * 1024

// env reads one variable the pytest driver sets; a test run by hand without it is skipped
// (so `go vet ./...` and `go test ./...` on their own stay harmless).
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set: this test is run by tests/compat/test_go_sdks.py", name)
	}
	return v
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requestLog records the requests an SDK sent, so a test can say which operations ran.
type requestLog struct {
	mu   sync.Mutex
	reqs []*http.Request
	base http.RoundTripper
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Clone(r.Context()))
	l.mu.Unlock()
	resp, err := l.base.RoundTrip(r)
	if os.Getenv("FERRY_TRACE") != "" {
		// A debugging aid: what the SDK sent and what came back.
		fmt.Fprintf(os.Stderr, "> %s %s %v\n", r.Method, r.URL, r.Header)
		if resp != nil {
			fmt.Fprintf(os.Stderr, "< %d %v\n", resp.StatusCode, resp.Header)
		}
	}
	return resp, err
}

// matching returns the requests with this method whose query has the key.
func (l *requestLog) matching(method, queryKey string) []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*http.Request
	for _, r := range l.reqs {
		if r.Method == method && r.URL.Query().Has(queryKey) {
			out = append(out, r)
		}
	}
	return out
}

func newRequestLog() *requestLog {
	return &requestLog{base: transport()}
}

// transport trusts the test CA in $FERRY_CA_FILE, when the driver runs ferry over HTTPS.
func transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if path := os.Getenv("FERRY_CA_FILE"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			panic("no certificate in " + path)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return tr
}

// awsClient is an aws-sdk-go-v2 S3 client for ferry: path-style, static keys, us-east-1,
// everything else (checksums, retries, signing) left at the SDK's defaults.
func awsClient(t *testing.T, log *requestLog) *s3.Client {
	endpoint := env(t, "FERRY_ENDPOINT")
	creds := credentials.NewStaticCredentialsProvider(env(t, "FERRY_ACCESS_KEY_ID"), env(t, "FERRY_SECRET_ACCESS_KEY"), "")
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  creds,
		HTTPClient:   &http.Client{Transport: log},
	})
}

// minioClient is a minio-go client for ferry over plain HTTP.
func minioClient(t *testing.T) *minio.Client { return minioClientWith(t, false) }

// minioClientWith can also send checksums in aws-chunked trailers (minio-go's TrailingHeaders,
// which its Checksum option needs).
func minioClientWith(t *testing.T, trailingHeaders bool) *minio.Client {
	u, err := url.Parse(env(t, "FERRY_ENDPOINT"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  miniocreds.NewStaticV4(env(t, "FERRY_ACCESS_KEY_ID"), env(t, "FERRY_SECRET_ACCESS_KEY"), ""),
		Secure: u.Scheme == "https",
		Region: "us-east-1",

		TrailingHeaders: trailingHeaders,
		Transport:       transport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("FERRY_TRACE") != "" {
		c.TraceOn(os.Stderr)
	}
	return c
}

func workdir(t *testing.T) string { return env(t, "FERRY_WORKDIR") }
func bucket(t *testing.T) string  { return env(t, "FERRY_BUCKET") }

// writeResult leaves what the test observed for the pytest driver to check with boto3.
func writeResult(t *testing.T, result map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(result, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workdir(t), "result.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// randomFile writes size pseudo-random bytes (seeded, so a failure can be reproduced) into
// the work directory and returns its path and contents.
func randomFile(t *testing.T, name string, size int, seed int64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(data)
	path := filepath.Join(workdir(t), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }
