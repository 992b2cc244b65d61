package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// partSize is the smallest part the transfer manager takes; a 13 MiB file is 3 parts.
const partSize = 5 * mib

// byteCounter records the transfer manager's progress events (which may come from several
// goroutines at once).
type byteCounter struct {
	mu                 sync.Mutex
	started, completed bool
	events             int
	bytes              int64 // the largest running total reported
}

func (c *byteCounter) OnObjectTransferStart(_ context.Context, _ *transfermanager.ObjectTransferStartEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
}

func (c *byteCounter) OnObjectBytesTransferred(_ context.Context, e *transfermanager.ObjectBytesTransferredEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events++
	c.bytes = max(c.bytes, e.BytesTransferred)
}

func (c *byteCounter) OnObjectTransferComplete(_ context.Context, e *transfermanager.ObjectTransferCompleteEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.completed = e.BytesTransferred == c.bytes
}

func tmClient(t *testing.T, log *requestLog) *transfermanager.Client {
	return transfermanager.New(awsClient(t, log), func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
		o.Concurrency = 3
	})
}

// composite is S3's COMPOSITE multipart checksum: the digest of the parts' digests, "-N".
func composite(data []byte, size int, newHash func() hash.Hash) string {
	outer := newHash()
	n := 0
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		h := newHash()
		h.Write(data[off:end])
		outer.Write(h.Sum(nil))
		n++
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(outer.Sum(nil)), n)
}

func b64(h hash.Hash, data []byte) string {
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func newCRC32() hash.Hash  { return crc32.NewIEEE() }
func newCRC32C() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }

// upload sends the file with the transfer manager and checks the progress events it fired.
func upload(t *testing.T, tm *transfermanager.Client, key, path string, size int, opts func(*transfermanager.UploadObjectInput)) *transfermanager.UploadObjectOutput {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	progress := &byteCounter{}
	in := &transfermanager.UploadObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(key), Body: f}
	if opts != nil {
		opts(in)
	}
	out, err := tm.UploadObject(ctxFor(t), in, func(o *transfermanager.Options) {
		o.ObjectProgressListeners.Register(progress)
	})
	if err != nil {
		t.Fatalf("UploadObject %s: %v", key, err)
	}
	if !progress.started || !progress.completed || progress.bytes != int64(size) || progress.events == 0 {
		t.Fatalf("progress events: started %v completed %v events %d bytes %d, want %d bytes", progress.started, progress.completed, progress.events, progress.bytes, size)
	}
	return out
}

// TestTransferManagerDefaultChecksumAndPartDownload uploads a 3-part file with the transfer
// manager's defaults (CRC32, COMPOSITE), downloads it in parallel by part number, and reads
// single parts with HeadObject/GetObject partNumber.
func TestTransferManagerDefaultChecksumAndPartDownload(t *testing.T) {
	log := newRequestLog()
	tm := tmClient(t, log)
	size := 13 * mib
	path, data := randomFile(t, "tm-default.bin", size, 1)
	out := upload(t, tm, "tm/default.bin", path, size, nil)

	wantCRC := composite(data, partSize, newCRC32)
	if got := aws.ToString(out.ChecksumCRC32); got != wantCRC {
		t.Fatalf("CompleteMultipartUpload ChecksumCRC32 = %q, want %q", got, wantCRC)
	}
	if out.ChecksumType != tmtypes.ChecksumTypeComposite {
		t.Fatalf("ChecksumType = %q, want COMPOSITE", out.ChecksumType)
	}
	creates := log.matching("POST", "uploads")
	if len(creates) != 1 || creates[0].Header.Get("x-amz-checksum-algorithm") != "CRC32" {
		t.Fatalf("CreateMultipartUpload requests: %d, algorithm %q", len(creates), creates[0].Header.Get("x-amz-checksum-algorithm"))
	}
	parts := log.matching("PUT", "partNumber")
	if len(parts) != 3 {
		t.Fatalf("UploadPart requests: %d, want 3", len(parts))
	}

	// Parallel download by part number: part 1 first, then parts 2..3 concurrently.
	dlLog := newRequestLog()
	dl := tmClient(t, dlLog)
	dest := filepath.Join(workdir(t), "tm-default.out")
	f, err := os.Create(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	progress := &byteCounter{}
	dout, err := dl.DownloadObject(ctxFor(t), &transfermanager.DownloadObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("tm/default.bin"), WriterAt: f,
	}, func(o *transfermanager.Options) { o.ObjectProgressListeners.Register(progress) })
	if err != nil {
		t.Fatalf("DownloadObject: %v", err)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, sha256 %s; want %d bytes, sha256 %s", len(got), sha256hex(got), len(data), sha256hex(data))
	}
	if aws.ToInt64(dout.ContentLength) != int64(size) || !progress.completed || progress.bytes != int64(size) {
		t.Fatalf("download output length %d, progress %+v", aws.ToInt64(dout.ContentLength), progress)
	}
	var numbers []string
	for _, r := range dlLog.matching("GET", "partNumber") {
		numbers = append(numbers, r.URL.Query().Get("partNumber"))
		if r.Header.Get("x-amz-checksum-mode") != "ENABLED" {
			t.Fatalf("part GET without checksum mode: %v", r.Header)
		}
	}
	sort.Strings(numbers)
	if fmt.Sprint(numbers) != "[1 2 3]" {
		t.Fatalf("part GETs: %v", numbers)
	}

	// HeadObject / GetObject of one part: x-amz-mp-parts-count and that part's bytes.
	client := awsClient(t, newRequestLog())
	head, err := client.HeadObject(ctxFor(t), &s3.HeadObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("tm/default.bin"), PartNumber: aws.Int32(3),
	})
	if err != nil {
		t.Fatalf("HeadObject partNumber=3: %v", err)
	}
	if aws.ToInt32(head.PartsCount) != 3 || aws.ToInt64(head.ContentLength) != int64(size-2*partSize) {
		t.Fatalf("HeadObject part 3: parts %d, length %d", aws.ToInt32(head.PartsCount), aws.ToInt64(head.ContentLength))
	}
	whole, err := client.GetObject(ctxFor(t), &s3.GetObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("tm/default.bin"), ChecksumMode: s3types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	whole.Body.Close()
	if aws.ToString(whole.ChecksumCRC32) != wantCRC || whole.ChecksumType != s3types.ChecksumTypeComposite {
		t.Fatalf("GetObject checksum %q type %q", aws.ToString(whole.ChecksumCRC32), whole.ChecksumType)
	}
	writeResult(t, map[string]any{
		"key": "tm/default.bin", "file": path, "sha256": sha256hex(data), "etag": unquote(aws.ToString(out.ETag)),
		"checksum_crc32": wantCRC,
	})
}

// TestTransferManagerFullObjectCRC32C asks for a FULL_OBJECT CRC32C multipart checksum: the
// server combines the parts' CRCs into the CRC32C of the whole file.
func TestTransferManagerFullObjectCRC32C(t *testing.T) {
	log := newRequestLog()
	tm := tmClient(t, log)
	size := 11*mib + 7
	path, data := randomFile(t, "tm-crc32c.bin", size, 2)
	out := upload(t, tm, "tm/crc32c.bin", path, size, func(in *transfermanager.UploadObjectInput) {
		in.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32c
		in.ChecksumType = tmtypes.ChecksumTypeFullObject
	})
	want := b64(newCRC32C(), data)
	if got := aws.ToString(out.ChecksumCRC32C); got != want || out.ChecksumType != tmtypes.ChecksumTypeFullObject {
		t.Fatalf("ChecksumCRC32C = %q type %q, want %q FULL_OBJECT", got, out.ChecksumType, want)
	}
	for _, r := range log.matching("PUT", "partNumber") {
		if r.Header.Get("x-amz-sdk-checksum-algorithm") != "CRC32C" {
			t.Fatalf("UploadPart without CRC32C: %v", r.Header)
		}
	}
	// A whole-object GET with checksum mode is validated by the SDK against this value.
	get, err := awsClient(t, newRequestLog()).GetObject(ctxFor(t), &s3.GetObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("tm/crc32c.bin"), ChecksumMode: s3types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(get.Body); err != nil {
		t.Fatalf("reading a checksum-validated body: %v", err)
	}
	get.Body.Close()
	if !bytes.Equal(buf.Bytes(), data) || aws.ToString(get.ChecksumCRC32C) != want {
		t.Fatalf("GetObject: %d bytes, checksum %q", buf.Len(), aws.ToString(get.ChecksumCRC32C))
	}
	writeResult(t, map[string]any{"key": "tm/crc32c.bin", "sha256": sha256hex(data), "checksum_crc32c": want})
}

// TestTransferManagerSHA256 uses an explicit SHA256 multipart checksum (COMPOSITE only) and a
// single-request upload below the multipart threshold with SHA256 too.
func TestTransferManagerSHA256(t *testing.T) {
	tm := tmClient(t, newRequestLog())
	size := 12 * mib
	path, data := randomFile(t, "tm-sha256.bin", size, 3)
	out := upload(t, tm, "tm/sha256.bin", path, size, func(in *transfermanager.UploadObjectInput) {
		in.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmSha256
	})
	want := composite(data, partSize, sha256.New)
	if got := aws.ToString(out.ChecksumSHA256); got != want {
		t.Fatalf("ChecksumSHA256 = %q, want %q", got, want)
	}

	// GetObjectAttributes as the Go SDK asks for it (one x-amz-object-attributes line each).
	attrs, err := awsClient(t, newRequestLog()).GetObjectAttributes(ctxFor(t), &s3.GetObjectAttributesInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("tm/sha256.bin"),
		ObjectAttributes: []s3types.ObjectAttributes{s3types.ObjectAttributesChecksum, s3types.ObjectAttributesObjectParts, s3types.ObjectAttributesObjectSize},
	})
	if err != nil {
		t.Fatalf("GetObjectAttributes: %v", err)
	}
	if attrs.Checksum == nil || aws.ToString(attrs.Checksum.ChecksumSHA256) != want || aws.ToInt64(attrs.ObjectSize) != int64(size) ||
		attrs.ObjectParts == nil || aws.ToInt32(attrs.ObjectParts.TotalPartsCount) != 3 || len(attrs.ObjectParts.Parts) != 3 {
		t.Fatalf("GetObjectAttributes: %+v", attrs)
	}
	if aws.ToInt64(attrs.ObjectParts.Parts[2].Size) != int64(size-2*partSize) {
		t.Fatalf("part 3 size %d", aws.ToInt64(attrs.ObjectParts.Parts[2].Size))
	}

	smallPath, small := randomFile(t, "tm-small.bin", 300*1024, 4)
	sout := upload(t, tm, "tm/small.bin", smallPath, len(small), func(in *transfermanager.UploadObjectInput) {
		in.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmSha256
	})
	wantSmall := b64(sha256.New(), small)
	if got := aws.ToString(sout.ChecksumSHA256); got != wantSmall || sout.ChecksumType != tmtypes.ChecksumTypeFullObject {
		t.Fatalf("PutObject ChecksumSHA256 = %q type %q, want %q FULL_OBJECT", got, sout.ChecksumType, wantSmall)
	}
	writeResult(t, map[string]any{
		"key": "tm/sha256.bin", "sha256": sha256hex(data), "checksum_sha256": want,
		"small_key": "tm/small.bin", "small_sha256": sha256hex(small), "small_checksum_sha256": wantSmall,
	})
}

// TestTransferManagerCompleteChecks gives the transfer manager the whole file's CRC32 and its
// size, which it sends on CompleteMultipartUpload (`x-amz-checksum-crc32`,
// `x-amz-mp-object-size`): the right values publish, a wrong checksum is BadDigest and a wrong
// size InvalidArgument, and then nothing is published and the transfer manager's abort leaves no
// upload behind.
func TestTransferManagerCompleteChecks(t *testing.T) {
	log := newRequestLog()
	tm := tmClient(t, log)
	size := 10*mib + 3
	path, data := randomFile(t, "tm-checks.bin", size, 5)
	whole := b64(newCRC32(), data)
	full := func(crc string, objectSize int64) func(*transfermanager.UploadObjectInput) {
		return func(in *transfermanager.UploadObjectInput) {
			in.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32
			in.ChecksumType = tmtypes.ChecksumTypeFullObject
			in.ChecksumCRC32 = aws.String(crc)
			in.MpuObjectSize = aws.Int64(objectSize)
		}
	}
	out := upload(t, tm, "tm/checked.bin", path, size, full(whole, int64(size)))
	if aws.ToString(out.ChecksumCRC32) != whole || out.ChecksumType != tmtypes.ChecksumTypeFullObject {
		t.Fatalf("ChecksumCRC32 %q type %q, want %q FULL_OBJECT", aws.ToString(out.ChecksumCRC32), out.ChecksumType, whole)
	}
	completes := log.matching("POST", "uploadId")
	if len(completes) != 1 || completes[0].Header.Get("x-amz-mp-object-size") != fmt.Sprint(size) ||
		completes[0].Header.Get("x-amz-checksum-crc32") != whole {
		t.Fatalf("CompleteMultipartUpload headers: %v", completes[0].Header)
	}

	refused := func(key string, opts func(*transfermanager.UploadObjectInput), code string) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in := &transfermanager.UploadObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(key), Body: f}
		opts(in)
		_, err = tm.UploadObject(ctxFor(t), in)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
			t.Fatalf("UploadObject %s: %v, want %s", key, err, code)
		}
		client := awsClient(t, newRequestLog())
		if _, err := client.HeadObject(ctxFor(t), &s3.HeadObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(key)}); err == nil {
			t.Fatalf("%s was published after a refused Complete", key)
		}
		uploads, err := client.ListMultipartUploads(ctxFor(t), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket(t)), Prefix: aws.String(key)})
		if err != nil || len(uploads.Uploads) != 0 {
			t.Fatalf("uploads left after the transfer manager's abort: %v %+v", err, uploads)
		}
	}
	wrong := base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4})
	refused("tm/wrong-crc.bin", full(wrong, int64(size)), "BadDigest")
	refused("tm/wrong-size.bin", full(whole, int64(size+1)), "InvalidArgument")
	writeResult(t, map[string]any{"key": "tm/checked.bin", "sha256": sha256hex(data), "checksum_crc32": whole,
		"refused": []string{"tm/wrong-crc.bin", "tm/wrong-size.bin"}})
}

// TestTransferManagerOverHTTPS: over TLS the SDK sends each part as aws-chunked with its CRC32
// in an unsigned trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER); the download validates the
// whole-object checksum where it can.
func TestTransferManagerOverHTTPS(t *testing.T) {
	if !strings.HasPrefix(env(t, "FERRY_ENDPOINT"), "https://") {
		t.Fatal("this test wants an HTTPS endpoint")
	}
	log := newRequestLog()
	tm := tmClient(t, log)
	size := 12*mib + 1
	path, data := randomFile(t, "tm-tls.bin", size, 6)
	out := upload(t, tm, "tm/tls.bin", path, size, func(in *transfermanager.UploadObjectInput) {
		in.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32c
		in.ChecksumType = tmtypes.ChecksumTypeFullObject
	})
	want := b64(newCRC32C(), data)
	if aws.ToString(out.ChecksumCRC32C) != want {
		t.Fatalf("ChecksumCRC32C %q, want %q", aws.ToString(out.ChecksumCRC32C), want)
	}
	parts := log.matching("PUT", "partNumber")
	for _, r := range parts {
		if r.Header.Get("X-Amz-Content-Sha256") != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || r.Header.Get("X-Amz-Trailer") != "x-amz-checksum-crc32c" {
			t.Fatalf("UploadPart over TLS was not aws-chunked with a trailer: %v", r.Header)
		}
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	smallPath, small := randomFile(t, "tm-tls-small.bin", 70000, 7)
	sout := upload(t, tm, "tm/tls-small.bin", smallPath, len(small), nil)
	if aws.ToString(sout.ChecksumCRC32) != b64(newCRC32(), small) {
		t.Fatalf("PutObject CRC32 %q", aws.ToString(sout.ChecksumCRC32))
	}
	dest := filepath.Join(workdir(t), "tm-tls.out")
	f, err := os.Create(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tmClient(t, newRequestLog()).DownloadObject(ctxFor(t), &transfermanager.DownloadObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("tm/tls.bin"), WriterAt: f,
	}); err != nil {
		t.Fatalf("DownloadObject: %v", err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, sha256 %s", len(got), sha256hex(got))
	}
	writeResult(t, map[string]any{"key": "tm/tls.bin", "sha256": sha256hex(data), "checksum_crc32c": want})
}

// TestTransferManagerDirectories uploads a directory tree (one file large enough for multipart)
// with UploadDirectory and downloads it under its key prefix with DownloadDirectory.
func TestTransferManagerDirectories(t *testing.T) {
	tm := tmClient(t, newRequestLog())
	src := filepath.Join(workdir(t), "tree")
	files := map[string]int{"a.txt": 5, "sub/b.bin": 6*mib + 1, "sub/deeper/c.bin": 1000, "sub/d e.txt": 0}
	want := map[string][]byte{}
	for name, size := range files {
		path := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		_, data := randomFile(t, "tmp.bin", size, int64(len(name)))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}
	up, err := tm.UploadDirectory(ctxFor(t), &transfermanager.UploadDirectoryInput{
		Bucket: aws.String(bucket(t)), Source: aws.String(src), Recursive: aws.Bool(true), KeyPrefix: aws.String("dir"),
	})
	if err != nil || up.ObjectsUploaded != int64(len(files)) || up.ObjectsFailed != 0 {
		t.Fatalf("UploadDirectory: %v %+v", err, up)
	}
	dest := filepath.Join(workdir(t), "back")
	down, err := tm.DownloadDirectory(ctxFor(t), &transfermanager.DownloadDirectoryInput{
		Bucket: aws.String(bucket(t)), Destination: aws.String(dest), KeyPrefix: aws.String("dir"),
	})
	if err != nil || down.ObjectsDownloaded != int64(len(files)) || down.ObjectsFailed != 0 {
		t.Fatalf("DownloadDirectory: %v %+v", err, down)
	}
	keys := map[string]string{}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s downloaded: %v, %d bytes, want %d", name, err, len(got), len(data))
		}
		keys["dir/"+name] = sha256hex(data)
	}
	writeResult(t, map[string]any{"objects": keys})
}
