#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| calig::fuzz_targets::saved(data));
