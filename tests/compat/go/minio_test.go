package compat

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"
)

// TestMinioFPutObjectMultipart uploads a file in 5 MiB parts on 3 threads with FPutObject and
// reads it back with FGetObject and a ranged GetObject.
func TestMinioFPutObjectMultipart(t *testing.T) {
	c := minioClient(t)
	ctx := ctxFor(t)
	size := 12*mib + 5
	path, data := randomFile(t, "minio-fput.bin", size, 10)
	info, err := c.FPutObject(ctx, bucket(t), "minio/fput.bin", path, minio.PutObjectOptions{
		PartSize: 5 * mib, NumThreads: 3, ContentType: "application/x-ferry-test",
		UserMetadata: map[string]string{"origin": "minio-go"},
	})
	if err != nil {
		t.Fatalf("FPutObject: %v", err)
	}
	if info.Size != int64(size) || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("FPutObject: size %d etag %q, want %d bytes in 3 parts", info.Size, info.ETag, size)
	}
	st, err := c.StatObject(ctx, bucket(t), "minio/fput.bin", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	if st.Size != int64(size) || st.ContentType != "application/x-ferry-test" || st.UserMetadata["Origin"] != "minio-go" {
		t.Fatalf("StatObject: %+v", st)
	}
	dest := filepath.Join(workdir(t), "minio-fput.out")
	if err := c.FGetObject(ctx, bucket(t), "minio/fput.bin", dest, minio.GetObjectOptions{}); err != nil {
		t.Fatalf("FGetObject: %v", err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, data) {
		t.Fatalf("FGetObject: %d bytes, sha256 %s", len(got), sha256hex(got))
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(int64(5*mib-3), int64(5*mib+2)); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, bucket(t), "minio/fput.bin", opts)
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(part, data[5*mib-3:5*mib+3]) {
		t.Fatalf("ranged GetObject across a part boundary: %v %x", err, part)
	}
	writeResult(t, map[string]any{"key": "minio/fput.bin", "sha256": sha256hex(data), "etag": info.ETag})
}

// TestMinioComposeObject joins three objects (two of them 5 MiB, the minimum part size, and a
// byte range of the third) server-side with ComposeObject (UploadPartCopy).
func TestMinioComposeObject(t *testing.T) {
	c := minioClient(t)
	ctx := ctxFor(t)
	var want []byte
	var srcs []minio.CopySrcOptions
	for i, size := range []int{5 * mib, 5*mib + 1, 70000} {
		key := fmt.Sprintf("compose/src-%d", i)
		_, data := randomFile(t, fmt.Sprintf("compose-%d.bin", i), size, int64(20+i))
		if _, err := c.PutObject(ctx, bucket(t), key, bytes.NewReader(data), int64(size), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
		src := minio.CopySrcOptions{Bucket: bucket(t), Object: key}
		if i == 2 {
			// Only bytes 1000..60999 of the last source.
			src.MatchRange, src.Start, src.End = true, 1000, 60999
			data = data[1000:61000]
		}
		srcs = append(srcs, src)
		want = append(want, data...)
	}
	info, err := c.ComposeObject(ctx, minio.CopyDestOptions{
		Bucket: bucket(t), Object: "compose/joined.bin", ReplaceMetadata: true,
		UserMetadata: map[string]string{"composed": "yes"},
	}, srcs...)
	if err != nil {
		t.Fatalf("ComposeObject: %v", err)
	}
	obj, err := c.GetObject(ctx, bucket(t), "compose/joined.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("composed object: %v, %d bytes, want %d", err, len(got), len(want))
	}
	st, err := c.StatObject(ctx, bucket(t), "compose/joined.bin", minio.StatObjectOptions{})
	if err != nil || st.UserMetadata["Composed"] != "yes" || !strings.HasSuffix(st.ETag, "-3") {
		t.Fatalf("StatObject of the composed object: %v %+v", err, st)
	}
	writeResult(t, map[string]any{"key": "compose/joined.bin", "sha256": sha256hex(want), "etag": info.ETag})
}

func listKeys(t *testing.T, c *minio.Client, opts minio.ListObjectsOptions) []string {
	t.Helper()
	var keys []string
	for o := range c.ListObjects(ctxFor(t), bucket(t), opts) {
		if o.Err != nil {
			t.Fatalf("ListObjects %+v: %v", opts, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// TestMinioListObjects lists with prefix, with and without recursion (delimiter "/"), paged
// by MaxKeys, after StartAfter, and with the V1 API.
func TestMinioListObjects(t *testing.T) {
	c := minioClient(t)
	ctx := ctxFor(t)
	keys := []string{"dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "dir/sub/deeper/d.txt", "dir2/e.txt", "top.txt", "dir/spaced name+plus.txt"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, bucket(t), k, strings.NewReader(k), int64(len(k)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PutObject %s: %v", k, err)
		}
	}
	// minio-go yields a page's objects before its common prefixes; the order across the two
	// is the SDK's, so compare as sorted sets (each list is still checked to be complete).
	check := func(name string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %q, want %q", name, got, want)
		}
	}
	check("prefix dir/, one level", listKeys(t, c, minio.ListObjectsOptions{Prefix: "dir/"}),
		[]string{"dir/a.txt", "dir/b.txt", "dir/spaced name+plus.txt", "dir/sub/"})
	recursive := []string{"dir/a.txt", "dir/b.txt", "dir/spaced name+plus.txt", "dir/sub/c.txt", "dir/sub/deeper/d.txt"}
	check("prefix dir/, recursive", listKeys(t, c, minio.ListObjectsOptions{Prefix: "dir/", Recursive: true}), recursive)
	check("recursive, 2 keys a page", listKeys(t, c, minio.ListObjectsOptions{Prefix: "dir/", Recursive: true, MaxKeys: 2}), recursive)
	check("root, one level", listKeys(t, c, minio.ListObjectsOptions{}), []string{"dir/", "dir2/", "top.txt"})
	check("start after", listKeys(t, c, minio.ListObjectsOptions{Prefix: "dir/", Recursive: true, StartAfter: "dir/sub/c.txt"}),
		[]string{"dir/sub/deeper/d.txt"})
	check("V1, recursive", listKeys(t, c, minio.ListObjectsOptions{Prefix: "dir/", Recursive: true, UseV1: true, MaxKeys: 3}), recursive)
	check("V1, one level", listKeys(t, c, minio.ListObjectsOptions{Prefix: "dir/sub/", UseV1: true}), []string{"dir/sub/c.txt", "dir/sub/deeper/"})
	writeResult(t, map[string]any{"keys": keys})
}

// TestMinioPresigned uploads with a presigned PUT URL and reads back with a presigned GET URL
// (with a response-content-disposition override), both used by plain net/http.
func TestMinioPresigned(t *testing.T) {
	c := minioClient(t)
	ctx := ctxFor(t)
	_, data := randomFile(t, "presigned.bin", 200*1024, 30)
	put, err := c.PresignedPutObject(ctx, bucket(t), "presigned/obj.bin", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, put.String(), bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, body)
	}
	params := url.Values{"response-content-disposition": {`attachment; filename="x.bin"`}}
	get, err := c.PresignedGetObject(ctx, bucket(t), "presigned/obj.bin", 10*time.Minute, params)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(get.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) || resp.Header.Get("Content-Disposition") != `attachment; filename="x.bin"` {
		t.Fatalf("presigned GET: %d, %d bytes, disposition %q", resp.StatusCode, len(got), resp.Header.Get("Content-Disposition"))
	}
	// A presigned URL with its signature altered is refused.
	bad := strings.Replace(get.String(), "X-Amz-Signature=", "X-Amz-Signature=0", 1)
	resp, err = http.Get(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("tampered presigned GET: %d, want 403", resp.StatusCode)
	}
	writeResult(t, map[string]any{"key": "presigned/obj.bin", "sha256": sha256hex(data)})
}

// TestMinioChecksums sends minio-go's flexible checksums: CRC64NVME on a single PutObject, a
// FULL_OBJECT CRC32C and a COMPOSITE SHA256 on multipart uploads, and checks the values ferry
// answers against the file's own digests.
func TestMinioChecksums(t *testing.T) {
	c := minioClientWith(t, true)
	ctx := ctxFor(t)
	_, small := randomFile(t, "minio-crc64.bin", 300*1024, 40)
	info, err := c.PutObject(ctx, bucket(t), "sums/crc64nvme.bin", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{Checksum: minio.ChecksumCRC64NVME})
	if err != nil {
		t.Fatalf("PutObject with CRC64NVME: %v", err)
	}
	h := crc64nvme.New()
	wantCRC64 := b64(h, small)
	if info.ChecksumCRC64NVME != wantCRC64 {
		t.Fatalf("PutObject CRC64NVME %q, want %q", info.ChecksumCRC64NVME, wantCRC64)
	}

	size := 11*mib + 9
	path, data := randomFile(t, "minio-crc32c.bin", size, 41)
	info, err = c.FPutObject(ctx, bucket(t), "sums/crc32c-full.bin", path, minio.PutObjectOptions{
		PartSize: 5 * mib, NumThreads: 2, Checksum: minio.ChecksumFullObjectCRC32C,
	})
	if err != nil {
		t.Fatalf("FPutObject with a full-object CRC32C: %v", err)
	}
	wantCRC32C := b64(newCRC32C(), data)
	if info.ChecksumCRC32C != wantCRC32C || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("full-object CRC32C %q (etag %q), want %q", info.ChecksumCRC32C, info.ETag, wantCRC32C)
	}

	path, data = randomFile(t, "minio-sha256.bin", size, 42)
	info, err = c.FPutObject(ctx, bucket(t), "sums/sha256.bin", path, minio.PutObjectOptions{
		PartSize: 5 * mib, NumThreads: 2, Checksum: minio.ChecksumSHA256,
	})
	if err != nil {
		t.Fatalf("FPutObject with SHA256: %v", err)
	}
	wantSHA := composite(data, 5*mib, sha256.New)
	if info.ChecksumSHA256 != wantSHA {
		t.Fatalf("composite SHA256 %q, want %q", info.ChecksumSHA256, wantSHA)
	}
	// StatObject asks for the checksums too (x-amz-checksum-mode: ENABLED).
	st, err := c.StatObject(ctx, bucket(t), "sums/crc32c-full.bin", minio.StatObjectOptions{Checksum: true})
	if err != nil || st.ChecksumCRC32C != wantCRC32C {
		t.Fatalf("StatObject with checksums: %v %q", err, st.ChecksumCRC32C)
	}
	writeResult(t, map[string]any{
		"crc64nvme": map[string]string{"key": "sums/crc64nvme.bin", "value": wantCRC64, "sha256": sha256hex(small)},
		"crc32c":    map[string]string{"key": "sums/crc32c-full.bin", "value": wantCRC32C},
		"sha256":    map[string]string{"key": "sums/sha256.bin", "value": wantSHA, "sha256": sha256hex(data)},
	})
}

// TestMinioBucketsCopyAndRemoval: MakeBucket, BucketExists, ListBuckets, CopyObject with new
// metadata, ListIncompleteUploads and RemoveIncompleteUpload, RemoveObjects (DeleteObjects) and
// RemoveBucket.
func TestMinioBucketsCopyAndRemoval(t *testing.T) {
	c := minioClient(t)
	ctx := ctxFor(t)
	name := bucket(t) + "-mc"
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if ok, err := c.BucketExists(ctx, name); err != nil || !ok {
		t.Fatalf("BucketExists: %v %v", ok, err)
	}
	if ok, err := c.BucketExists(ctx, name+"-absent"); err != nil || ok {
		t.Fatalf("BucketExists of a missing bucket: %v %v", ok, err)
	}
	buckets, err := c.ListBuckets(ctx)
	if err != nil || !slices.ContainsFunc(buckets, func(b minio.BucketInfo) bool { return b.Name == name }) {
		t.Fatalf("ListBuckets: %v %+v", err, buckets)
	}
	for i := range 5 {
		body := fmt.Sprintf("object %d", i)
		if _, err := c.PutObject(ctx, name, fmt.Sprintf("rm/%d.txt", i), strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CopyObject(ctx, minio.CopyDestOptions{
		Bucket: name, Object: "copied.txt", ReplaceMetadata: true, UserMetadata: map[string]string{"copied": "1"},
	}, minio.CopySrcOptions{Bucket: name, Object: "rm/3.txt"}); err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	st, err := c.StatObject(ctx, name, "copied.txt", minio.StatObjectOptions{})
	if err != nil || st.UserMetadata["Copied"] != "1" || st.Size != int64(len("object 3")) {
		t.Fatalf("StatObject of the copy: %v %+v", err, st)
	}

	// An upload left unfinished is listed, then removed.
	core := minio.Core{Client: c}
	id, err := core.NewMultipartUpload(ctx, name, "unfinished.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for u := range c.ListIncompleteUploads(ctx, name, "unf", true) {
		if u.Err != nil {
			t.Fatalf("ListIncompleteUploads: %v", u.Err)
		}
		listed = append(listed, u.Key+"/"+u.UploadID)
	}
	if !slices.Equal(listed, []string{"unfinished.bin/" + id}) {
		t.Fatalf("ListIncompleteUploads: %v", listed)
	}
	if err := c.RemoveIncompleteUpload(ctx, name, "unfinished.bin"); err != nil {
		t.Fatalf("RemoveIncompleteUpload: %v", err)
	}
	for u := range c.ListIncompleteUploads(ctx, name, "", true) {
		t.Fatalf("upload left after RemoveIncompleteUpload: %+v", u)
	}

	objects := make(chan minio.ObjectInfo)
	go func() {
		defer close(objects)
		for o := range c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			objects <- o
		}
	}()
	for e := range c.RemoveObjects(ctx, name, objects, minio.RemoveObjectsOptions{}) {
		t.Fatalf("RemoveObjects: %s: %v", e.ObjectName, e.Err)
	}
	if left := listKeysIn(t, c, name); len(left) != 0 {
		t.Fatalf("objects left after RemoveObjects: %v", left)
	}
	if err := c.RemoveBucket(ctx, name); err != nil {
		t.Fatalf("RemoveBucket: %v", err)
	}
	writeResult(t, map[string]any{"bucket": name})
}

func listKeysIn(t *testing.T, c *minio.Client, name string) []string {
	var keys []string
	for o := range c.ListObjects(ctxFor(t), name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}
