//! The default breaker name (no `name = ...`) tells apart methods of different types, trait
//! impls and free functions, and two sites that still end up with one default name are
//! reported.

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{circuit_breaker, Registry, Rejected};

#[derive(Debug)]
enum ClientError {
    Down,
    Rejected,
}

impl From<Rejected> for ClientError {
    fn from(_: Rejected) -> Self {
        ClientError::Rejected
    }
}

fn registry() -> Registry {
    Registry::builder().clock(ManualClock::new()).build().unwrap()
}

fn names(registry: &Registry) -> Vec<String> {
    let mut names: Vec<String> = registry.breakers().iter().map(|b| b.name().to_string()).collect();
    names.sort();
    names
}

mod shop {
    use super::{ClientError, Registry};
    use breaker_runtime::circuit_breaker;

    pub(crate) struct Users {
        pub(crate) registry: Registry,
        pub(crate) up: bool,
    }

    pub(crate) struct Orders {
        pub(crate) registry: Registry,
    }

    pub(crate) struct Wrapper<T> {
        pub(crate) registry: Registry,
        pub(crate) value: T,
    }

    pub(crate) trait Fetch<K> {
        fn fetch(&self, key: K) -> Result<u32, ClientError>;
    }

    impl Users {
        #[circuit_breaker(registry = self.registry)]
        pub(crate) async fn get(&self) -> Result<u32, ClientError> {
            if self.up {
                Ok(1)
            } else {
                Err(ClientError::Down)
            }
        }
    }

    impl Orders {
        #[circuit_breaker(registry = self.registry)]
        pub(crate) async fn get(&self) -> Result<u32, ClientError> {
            Ok(2)
        }

        #[circuit_breaker(registry = registry)]
        pub(crate) fn associated(registry: &Registry) -> Result<u32, ClientError> {
            Ok(registry.breakers().len() as u32)
        }
    }

    impl<T: Clone> Wrapper<T> {
        #[circuit_breaker(registry = self.registry)]
        pub(crate) async fn get(&self) -> Result<T, ClientError> {
            Ok(self.value.clone())
        }
    }

    impl Fetch<u8> for Users {
        #[circuit_breaker(registry = self.registry)]
        fn fetch(&self, key: u8) -> Result<u32, ClientError> {
            Ok(u32::from(key))
        }
    }

    impl Fetch<u16> for Users {
        #[circuit_breaker(registry = self.registry)]
        fn fetch(&self, key: u16) -> Result<u32, ClientError> {
            Ok(u32::from(key))
        }
    }

    #[circuit_breaker(registry = registry)]
    pub(crate) async fn free(registry: &Registry) -> Result<u32, ClientError> {
        Ok(registry.breakers().len() as u32)
    }

    #[circuit_breaker(name = "shared-on-purpose", registry = registry)]
    pub(crate) async fn named_a(registry: &Registry) -> Result<u32, ClientError> {
        Ok(registry.breakers().len() as u32)
    }

    #[circuit_breaker(name = "shared-on-purpose", registry = registry)]
    pub(crate) async fn named_b(registry: &Registry) -> Result<u32, ClientError> {
        Ok(registry.breakers().len() as u32)
    }
}

use shop::{Fetch, Orders, Users, Wrapper};

#[tokio::test]
async fn same_named_methods_of_two_types_get_two_breakers() {
    let registry = registry();
    let users = Users { registry: registry.clone(), up: false };
    let orders = Orders { registry: registry.clone() };
    // The default configuration opens after five consecutive failures.
    for _ in 0..5 {
        assert!(matches!(users.get().await, Err(ClientError::Down)));
    }
    assert!(matches!(users.get().await, Err(ClientError::Rejected)), "the users breaker is open");
    assert!(matches!(orders.get().await, Ok(2)), "the orders breaker is not the users one");
    assert_eq!(names(&registry), ["default_names::shop::Orders::get", "default_names::shop::Users::get"]);
    assert!(registry.conflicts().is_empty(), "{:?}", registry.conflicts());
}

#[tokio::test]
async fn default_names_spell_the_type_and_the_trait() {
    let registry = registry();
    let users = Users { registry: registry.clone(), up: true };
    users.get().await.unwrap();
    Fetch::<u8>::fetch(&users, 1).unwrap();
    Orders::associated(&registry).unwrap();
    Wrapper { registry: registry.clone(), value: 1u8 }.get().await.unwrap();
    // Generic `Self` types: one breaker for every instantiation, named without the arguments.
    Wrapper { registry: registry.clone(), value: "x" }.get().await.unwrap();
    shop::free(&registry).await.unwrap();
    assert_eq!(
        names(&registry),
        [
            "default_names::shop::<Users as Fetch>::fetch",
            "default_names::shop::Orders::associated",
            "default_names::shop::Users::get",
            "default_names::shop::Wrapper::get",
            "default_names::shop::free",
        ]
    );
    assert!(registry.conflicts().is_empty(), "{:?}", registry.conflicts());
}

#[tokio::test]
async fn two_sites_with_one_default_name_are_reported() {
    let registry = registry();
    let users = Users { registry: registry.clone(), up: true };
    Fetch::<u8>::fetch(&users, 1).unwrap();
    Fetch::<u16>::fetch(&users, 2).unwrap();
    Fetch::<u16>::fetch(&users, 2).unwrap();
    let conflicts = registry.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let message = &conflicts[0];
    assert!(message.contains("`default_names::shop::<Users as Fetch>::fetch`"), "{message}");
    assert!(message.contains("default_names.rs:"), "{message}");
    assert!(message.contains("name = "), "the message says how to fix it: {message}");
}

#[tokio::test]
async fn sites_sharing_an_explicit_name_are_not_reported() {
    let registry = registry();
    shop::named_a(&registry).await.unwrap();
    shop::named_b(&registry).await.unwrap();
    assert_eq!(names(&registry), ["shared-on-purpose"]);
    assert!(registry.conflicts().is_empty(), "{:?}", registry.conflicts());
}

#[circuit_breaker]
async fn on_the_global_registry() -> Result<u32, ClientError> {
    Ok(7)
}

#[tokio::test]
async fn the_global_registry_uses_the_same_default_name() {
    on_the_global_registry().await.unwrap();
    assert!(Registry::global().get("default_names::on_the_global_registry").is_some());
}
