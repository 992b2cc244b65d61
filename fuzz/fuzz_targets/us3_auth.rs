#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_us3::fuzz::auth(data));
