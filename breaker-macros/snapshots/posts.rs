// The expansion of the README's `posts` method: 567 tokens, 64 lines formatted.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p breaker-macros snapshot
// (breaker-macros/src/snapshot.rs). Not compiled: it names the README's types.

impl ContentClient {
    async fn posts(&self, user: u64) -> Result<Vec<Post>, ClientError> {
        static __BREAKER_SITE: ::breaker_runtime::__private::CallSite = ::breaker_runtime::__private::CallSite::new(
            "content-service",
            ::core::concat!(::core::module_path!(), "::", "posts", " (", ::core::file!(), ":", ::core::line!(), ")"),
            &[],
        );
        const __BREAKER_OPTIONS: ::breaker_runtime::__private::Options = ::breaker_runtime::__private::Options {
            timeout: ::core::option::Option::Some(::breaker_runtime::__private::Duration::new(2, 0)),
            fallback_on: ::breaker_runtime::__private::FALLBACK_ON_ANY,
            retry: ::core::option::Option::None,
        };
        let __breaker = __BREAKER_SITE.global();
        let __breaker_arg_user = ::core::clone::Clone::clone(&user);
        let __breaker_raw = {
            let __breaker_policy = ::breaker_runtime::__private::policy(
                &__BREAKER_OPTIONS,
                ::breaker_runtime::__private::DEFAULT_CLASSIFY,
            );
            ::breaker_runtime::__private::call::<Result<Vec<Post>, ClientError>, _, _>(
                &__breaker,
                &__breaker_policy,
                async {
                    if let ::core::option::Option::Some(__breaker_ret) =
                        ::core::option::Option::None::<Result<Vec<Post>, ClientError>>
                    {
                        #[allow(unreachable_code)]
                        return __breaker_ret;
                    }
                    let __breaker_ret: Result<Vec<Post>, ClientError> =
                        { Ok(self.http.get(format!("{}/posts/{user}", self.base)).send().await?.json().await?) };
                    #[allow(unreachable_code)]
                    __breaker_ret
                },
            )
            .await
        };
        match ::breaker_runtime::__private::fallback_or::<Result<Vec<Post>, ClientError>>(
            &__BREAKER_OPTIONS,
            __breaker_raw,
        ) {
            ::core::result::Result::Ok(__breaker_value) => __breaker_value,
            ::core::result::Result::Err(__breaker_error) => {
                ::breaker_runtime::__private::fallback_within(
                    &__breaker,
                    &__BREAKER_OPTIONS,
                    {
                        #[allow(unused_imports)]
                        use ::breaker_runtime::__private::{TimeoutNone as _, TimeoutViaFrom as _};
                        (&&::breaker_runtime::__private::Timeouts::<Result<Vec<Post>, ClientError>>::new()).converter()
                    },
                    __breaker_error,
                    |__breaker_error| {
                        ::breaker_runtime::__private::check_fallback::<_, Result<Vec<Post>, ClientError>, _, _, _>(
                            Self::cached_posts,
                        )
                        .call(((self, __breaker_arg_user), __breaker_error))
                    },
                )
                .await
            }
        }
    }
}
