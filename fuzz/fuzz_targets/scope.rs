//! Scope parsing and arithmetic: a parsed scope prints back to itself, and
//! intersection and subset agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::Scope;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('|').unwrap_or((text, ""));
    let (Ok(a), Ok(b)) = (Scope::parse(a), Scope::parse(b)) else {
        return;
    };
    assert_eq!(Scope::parse(&a.to_string()).unwrap(), a);
    let both = a.intersection(&b);
    assert!(both.is_subset_of(&a) && both.is_subset_of(&b));
    assert_eq!(a.is_subset_of(&b), a.intersection(&b) == a);
});
