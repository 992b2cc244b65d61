#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_s3::fuzz::aws_chunked(data));
