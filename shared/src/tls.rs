//! The one TLS stack of the functions: rustls with the aws-lc-rs crypto provider, the one the
//! AWS SDK's HTTPS client uses. reqwest is built without a provider of its own, so every
//! reqwest client is made here, after the process's provider is installed.

/// A reqwest client builder on rustls with aws-lc-rs.
pub fn http_client() -> reqwest::ClientBuilder {
    // Err means a provider is installed already (by an earlier call, or by the caller): the
    // same one, as nothing else in the functions installs one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder().use_rustls_tls()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clients_build_however_often_they_are_made() {
        for _ in 0..2 {
            super::http_client().build().expect("an HTTPS client");
        }
    }
}
