package compat

import (
	"bytes"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/crc64nvme"
)

// TestUnsupportedChecksumIsRefused: aws-sdk-go-v2 can send a SHA-512 flexible checksum, which
// ferry does not compute. The upload must be refused (InvalidRequest) rather than stored without
// the verification the client asked for; a CRC64NVME one, which ferry computes, is verified and
// echoed.
func TestUnsupportedChecksumIsRefused(t *testing.T) {
	log := newRequestLog()
	c := awsClient(t, log)
	ctx := ctxFor(t)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("sha512.txt"), Body: bytes.NewReader([]byte("hello")),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha512,
	})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidRequest" {
		t.Fatalf("PutObject with SHA512: %v, want InvalidRequest", err)
	}
	sent := log.matching("PUT", "x-id")
	if len(sent) != 1 || sent[0].Header.Get("x-amz-checksum-sha512") == "" {
		t.Fatalf("the SDK did not send a SHA-512 checksum: %v", sent)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String("sha512.txt")}); err == nil {
		t.Fatal("an object was stored after its checksum was refused")
	}
	wantCRC64 := b64(crc64nvme.New(), []byte("hello"))
	out, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket(t)), Key: aws.String("crc64.txt"), Body: bytes.NewReader([]byte("hello")),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc64nvme,
	})
	if err != nil || aws.ToString(out.ChecksumCRC64NVME) != wantCRC64 || out.ChecksumType != s3types.ChecksumTypeFullObject {
		t.Fatalf("PutObject with CRC64NVME: %v %+v", err, out)
	}
	writeResult(t, map[string]any{"refused": "sha512.txt", "stored": "crc64.txt", "crc64nvme": wantCRC64})
}
