//! Log-in is rate-limited per e-mail address.

use crate::helpers::*;

both! {
    async fn login_attempts_are_limited(app) {
        app.signup("r@rate.test", "Rate").await;
        // The test config allows 5 attempts per minute per address.
        for _ in 0..5 {
            app.login("r@rate.test", "wrong password!!").await.expect_problem(401, "unauthorized");
        }
        let res = app.login("r@rate.test", "correct horse battery").await;
        res.expect_problem(429, "rate-limited");
        let retry: u64 = res.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
        // Another address is not affected.
        app.login("other@rate.test", "wrong password!!").await.expect_problem(401, "unauthorized");
    }
}
