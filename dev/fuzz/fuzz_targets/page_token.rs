//! Page tokens: any string is opened or refused without a panic, and a token sealed for one
//! clinic opens for that clinic only, giving back what was sealed.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tenant_context::ClinicId;
use tool_target::page_token::PageTokens;

static TOKENS: LazyLock<PageTokens> =
    LazyLock::new(|| PageTokens::new(vec![7u8; 32]).expect("a 32-byte key"));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let clinic = ClinicId::parse("clinic-a").expect("clinic");
    let other = ClinicId::parse("clinic-b").expect("clinic");
    let _ = TOKENS.open(text, &clinic);
    let sealed = TOKENS.seal(&clinic, text);
    assert_eq!(TOKENS.open(&sealed, &clinic).ok().as_deref(), Some(text));
    assert!(TOKENS.open(&sealed, &other).is_err());
});
