//! ACLs and authentication: digest identities, NoAuth for each permission (READ, WRITE, CREATE,
//! DELETE, ADMIN as ZooDefs.Perms), the super digest bypass, and AuthFailed.

mod common;

use common::server::{SUPER_CREDENTIALS, SUPER_DIGEST};
use common::*;
use zookeeper_client::{Acl, Acls, AuthId, CreateMode, Error, Permission, SessionState};

fn world(permission: Permission) -> [Acl; 1] {
    [Acl::new(permission, AuthId::anyone())]
}

#[tokio::test]
async fn creator_all_records_the_digest_identity() {
    let server = TestServer::start_default();
    let alice = connect_with_digest(&server, "alice:secret").await;
    alice
        .create(
            "/secret",
            b"s",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    let (acl, _) = alice.get_acl("/secret").await.unwrap();
    assert_eq!(acl.len(), 1, "{acl:?}");
    assert_eq!(acl[0].scheme(), "digest");
    assert!(
        acl[0].id().starts_with("alice:"),
        "the id is user:base64(sha1): {acl:?}"
    );
    assert_eq!(acl[0].permission(), Permission::ALL);
    assert_eq!(alice.get_data("/secret").await.unwrap().0, b"s");
}

#[tokio::test]
async fn other_identities_get_no_auth_for_everything_but_exists() {
    let server = TestServer::start_default();
    let alice = connect_with_digest(&server, "alice:secret").await;
    alice
        .create(
            "/secret",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    alice
        .create("/secret/child", b"", &persistent())
        .await
        .unwrap();
    for stranger in [
        connect(&server).await,
        connect_with_digest(&server, "alice:wrong").await,
    ] {
        assert_eq!(stranger.get_data("/secret").await, Err(Error::NoAuth));
        assert_eq!(stranger.list_children("/secret").await, Err(Error::NoAuth));
        assert_eq!(
            stranger.set_data("/secret", b"x", None).await,
            Err(Error::NoAuth)
        );
        assert_eq!(
            stranger.create("/secret/new", b"", &persistent()).await,
            Err(Error::NoAuth)
        );
        assert_eq!(
            stranger.delete("/secret/child", None).await,
            Err(Error::NoAuth)
        );
        assert_eq!(
            stranger.set_acl("/secret", &Acls::anyone_all(), None).await,
            Err(Error::NoAuth)
        );
        assert!(
            stranger.check_stat("/secret").await.unwrap().is_some(),
            "exists needs no permission"
        );
    }
    let again = connect_with_digest(&server, "alice:secret").await;
    again.set_data("/secret", b"mine", None).await.unwrap();
}

#[tokio::test]
async fn each_permission_guards_its_operations() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let all_but = |missing: Permission| {
        let mut permission = Permission::NONE;
        for each in [
            Permission::READ,
            Permission::WRITE,
            Permission::CREATE,
            Permission::DELETE,
            Permission::ADMIN,
        ] {
            if each != missing {
                permission = permission | each;
            }
        }
        permission
    };
    for (name, missing) in [
        ("read", Permission::READ),
        ("write", Permission::WRITE),
        ("create", Permission::CREATE),
        ("delete", Permission::DELETE),
        ("admin", Permission::ADMIN),
    ] {
        let path = format!("/{name}");
        client.create(&path, b"", &persistent()).await.unwrap();
        client
            .create(&format!("{path}/child"), b"", &persistent())
            .await
            .unwrap();
        client
            .set_acl(&path, &world(all_but(missing)), None)
            .await
            .unwrap();
        let read = client.get_data(&path).await.map(|_| ());
        let children = client.list_children(&path).await.map(|_| ());
        let write = client.set_data(&path, b"x", None).await.map(|_| ());
        let create = client
            .create(&format!("{path}/new"), b"", &persistent())
            .await
            .map(|_| ());
        let delete = client.delete(&format!("{path}/child"), None).await;
        let admin = client
            .set_acl(&path, &Acls::anyone_all(), None)
            .await
            .map(|_| ());
        let expect = |guarded: Permission| {
            if guarded == missing {
                Err(Error::NoAuth)
            } else {
                Ok(())
            }
        };
        assert_eq!(read, expect(Permission::READ), "getData without {name}");
        assert_eq!(
            children,
            expect(Permission::READ),
            "getChildren without {name}"
        );
        assert_eq!(write, expect(Permission::WRITE), "setData without {name}");
        assert_eq!(create, expect(Permission::CREATE), "create without {name}");
        assert_eq!(delete, expect(Permission::DELETE), "delete without {name}");
        assert_eq!(admin, expect(Permission::ADMIN), "setACL without {name}");
    }
}

#[tokio::test]
async fn the_permission_check_comes_before_the_version_check() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client
        .create(
            "/ro",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&world(Permission::READ))),
        )
        .await
        .unwrap();
    assert_eq!(
        client.set_data("/ro", b"x", Some(42)).await,
        Err(Error::NoAuth)
    );
    assert_eq!(
        client.set_acl("/ro", &Acls::anyone_all(), Some(42)).await,
        Err(Error::NoAuth)
    );
}

#[tokio::test]
async fn acl_without_read_hides_the_acl_only_from_non_admins() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    client
        .create(
            "/wo",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&world(Permission::WRITE))),
        )
        .await
        .unwrap();
    assert_eq!(client.get_data("/wo").await, Err(Error::NoAuth));
    let acl = client.get_acl("/wo").await;
    assert_eq!(acl, Err(Error::NoAuth), "getACL needs READ or ADMIN");
    client
        .create(
            "/admin-only",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&world(Permission::ADMIN))),
        )
        .await
        .unwrap();
    let (acl, _) = client.get_acl("/admin-only").await.unwrap();
    assert_eq!(acl, world(Permission::ADMIN).to_vec());
}

#[tokio::test]
async fn super_digest_bypasses_every_acl() {
    let server = TestServer::start(ServerOptions {
        super_digest: Some(SUPER_DIGEST.to_string()),
        ..Default::default()
    });
    let alice = connect_with_digest(&server, "alice:secret").await;
    alice
        .create(
            "/private",
            b"p",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    alice
        .create(
            "/private/leaf",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&world(Permission::NONE))),
        )
        .await
        .unwrap();
    let root = connect_with_digest(&server, SUPER_CREDENTIALS).await;
    assert_eq!(root.get_data("/private").await.unwrap().0, b"p");
    root.set_data("/private/leaf", b"x", None).await.unwrap();
    root.delete("/private/leaf", None).await.unwrap();
    root.set_acl("/private", &Acls::anyone_all(), None)
        .await
        .unwrap();
    let anyone = connect(&server).await;
    assert_eq!(anyone.get_data("/private").await.unwrap().0, b"p");
    let wrong = connect_with_digest(&server, "super:wrong").await;
    alice
        .create(
            "/closed",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    assert_eq!(wrong.get_data("/closed").await, Err(Error::NoAuth));
}

#[tokio::test]
async fn ip_acls_match_the_client_address() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let users = client.list_auth_users().await.unwrap();
    let ip = users
        .iter()
        .find(|user| user.scheme() == "ip")
        .expect("an ip identity")
        .user()
        .to_string();
    let mine = [Acl::new(Permission::ALL, AuthId::new("ip", &ip))];
    client
        .create(
            "/by-ip",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&mine)),
        )
        .await
        .unwrap();
    client.set_data("/by-ip", b"ok", None).await.unwrap();
    let elsewhere = [Acl::new(Permission::ALL, AuthId::new("ip", "10.1.2.3"))];
    client
        .create(
            "/not-me",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&elsewhere)),
        )
        .await
        .unwrap();
    assert_eq!(client.get_data("/not-me").await, Err(Error::NoAuth));
    let subnet = [Acl::new(Permission::ALL, AuthId::new("ip", "127.0.0.0/8"))];
    client
        .create(
            "/subnet",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&subnet)),
        )
        .await
        .unwrap();
    client.get_data("/subnet").await.unwrap();
}

#[tokio::test]
async fn auth_with_an_unknown_scheme_fails_the_session() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let mut state = client.state_watcher();
    assert_eq!(
        client.auth("nosuchscheme", b"whatever").await,
        Err(Error::AuthFailed)
    );
    assert_eq!(
        within("AuthFailed state", state.changed()).await,
        SessionState::AuthFailed
    );
}

#[tokio::test]
async fn the_auth_scheme_expands_to_every_authenticated_identity() {
    let server = TestServer::start_default();
    let client = connect_with_digest(&server, "bob:pw").await;
    client.auth("digest", b"carol:pw").await.unwrap();
    let auth = [Acl::new(Permission::READ, AuthId::new("auth", ""))];
    client
        .create(
            "/both",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&auth)),
        )
        .await
        .unwrap();
    let (acl, _) = client.get_acl("/both").await.unwrap();
    let mut users: Vec<&str> = acl
        .iter()
        .map(|entry| entry.id().split(':').next().unwrap_or(""))
        .collect();
    users.sort();
    assert_eq!(users, vec!["bob", "carol"]);
    assert!(acl
        .iter()
        .all(|entry| entry.scheme() == "digest" && entry.permission() == Permission::READ));
}

/// Apache's `ip` provider answers Ok to addAuth and records the connection's
/// real address, whatever address the client claims (issue #12).
#[tokio::test]
async fn auth_with_the_ip_scheme_records_the_real_address_not_the_claimed_one() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    let before = client.list_auth_users().await.unwrap();
    assert_eq!(client.auth("ip", b"10.9.8.7").await, Ok(()));
    let after = client.list_auth_users().await.unwrap();
    let ids = |users: &[zookeeper_client::AuthUser]| -> Vec<(String, String)> {
        let mut ids: Vec<_> = users
            .iter()
            .map(|u| (u.scheme().to_owned(), u.user().to_owned()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&after), ids(&before), "the claimed address is ignored");
    let claimed = [Acl::new(Permission::ALL, AuthId::new("ip", "10.9.8.7"))];
    client
        .create(
            "/claimed",
            b"",
            &CreateMode::Persistent.with_acls(Acls::new(&claimed)),
        )
        .await
        .unwrap();
    assert_eq!(client.get_data("/claimed").await, Err(Error::NoAuth));
    // The session goes on serving.
    client.get_data("/").await.unwrap();
}

/// Apache registers the `sasl` provider only through `authProvider.N`, and `x509` only with
/// a secure client port: on a plain server both schemes are InvalidACL (issue #12).
#[tokio::test]
async fn sasl_and_x509_acls_are_invalid_without_their_provider() {
    let server = TestServer::start_default();
    let client = connect(&server).await;
    for (scheme, id) in [("sasl", "jaasuser"), ("x509", "CN=client,O=Example")] {
        let acl = [Acl::new(Permission::ALL, AuthId::new(scheme, id))];
        assert_eq!(
            client
                .create(
                    &format!("/{scheme}"),
                    b"",
                    &CreateMode::Persistent.with_acls(Acls::new(&acl)),
                )
                .await
                .map(|_| ()),
            Err(Error::InvalidAcl),
            "{scheme}"
        );
    }
}
