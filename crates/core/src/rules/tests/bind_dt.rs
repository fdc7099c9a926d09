//! `bind_dt` (Getui 【用户】批量绑定或解绑cid和deviceToken).

use super::*;
use crate::rules::reads::GetDevices;
use crate::rules::{BindDeviceTokens, DtBinding, DtFailure};
use crate::DtType;

fn dt(c: &str, token: Option<&str>) -> DtBinding {
    DtBinding {
        cid: c.into(),
        device_token: token.map(Into::into),
    }
}

fn bind_dt(kind: DtType, entries: Vec<DtBinding>) -> BindDeviceTokens {
    BindDeviceTokens { kind, entries }
}

#[test]
fn bind_dt_applies_valid_entries_and_reports_each_refused_one() {
    // Getui bind_dt error_code: 24001 "cid为空", 24002 "cid不存在", 24003 "cid和appId不匹配";
    // DESIGN §2: bind_dt is per-entry: it applies every valid entry and reports the rest.
    let mut reg = Bench::new();
    reg.ok(&upsert(vec![mini_program("mp1")], NOW));
    reg.create_app("app2");
    reg.run_in("app2", &upsert(vec![mini_program("theirs")], NOW));
    let (failures, muts) = reg.ok(&bind_dt(
        DtType::Wx,
        vec![
            dt("", Some("o0")),
            dt("ghost", Some("o1")),
            dt("theirs", Some("o2")),
            dt("a,b", Some("o3")),
            dt("mp1", Some("openid-1")),
        ],
    ));
    assert_eq!(
        failures,
        [
            (0, DtFailure::EmptyCid),
            (1, DtFailure::UnknownCid),
            (2, DtFailure::OtherApp),
            (3, DtFailure::UnknownCid),
        ]
    );
    assert_eq!(names(&muts), ["DeviceTokenBound"]);
    let d = reg.device("mp1");
    assert_eq!(d.device_token.as_deref(), Some("openid-1"));
    assert_eq!(d.device_token_type, Some(DtType::Wx));
    assert_eq!(d.brand, None, "wx has no vendor prefix");
    // The other app's device is untouched.
    let (theirs, _) = reg.run_in(
        "app2",
        &GetDevices {
            cids: vec![cid("theirs")],
            now: NOW,
        },
    );
    assert_eq!(theirs[0].device_token, None);
}

#[test]
fn bind_dt_wx_needs_a_mini_program() {
    // Getui bind_dt error_code 24004: "cid对应的类型不是小程序"; "微信小程序:对应微信小程序用户的openid".
    let mut reg = Bench::new();
    reg.register(&["app-user"]);
    let (failures, muts) = reg.ok(&bind_dt(
        DtType::Wx,
        vec![dt("app-user", Some("openid")), dt("app-user", None)],
    ));
    assert_eq!(
        failures,
        [
            (0, DtFailure::NotMiniProgram),
            (1, DtFailure::NotMiniProgram)
        ]
    );
    assert_eq!(muts, []);
    // A vendor channel does not care about the kind.
    let (failures, _) = reg.ok(&bind_dt(DtType::Hw, vec![dt("app-user", Some("t"))]));
    assert_eq!(failures, []);
}

#[test]
fn bind_dt_of_a_vendor_channel_sets_the_brand_to_its_prefix() {
    // Getui user detail: "brand是返回的厂商devicetoken前缀,比如:华为-hw、小米-xm、魅族-mz、
    // OPPO-op、VIVO-vv、苹果-iphone".
    let expected = [
        (DtType::Hw, "hw"),
        (DtType::Xm, "xm"),
        (DtType::Mz, "mz"),
        (DtType::Op, "op"),
        (DtType::Vv, "vv"),
        (DtType::Ios, "iphone"),
    ];
    for (kind, brand) in expected {
        assert_eq!(kind.brand(), Some(brand));
    }
    let mut reg = Bench::new();
    for kind in DtType::ALL.into_iter().filter(|k| *k != DtType::Wx) {
        let c = format!("dev-{}", kind.as_str());
        reg.register(&[&c]);
        let (failures, muts) = reg.ok(&bind_dt(kind, vec![dt(&c, Some("tok"))]));
        assert_eq!(failures, []);
        assert_eq!(
            muts,
            [Mutation::DeviceTokenBound {
                cid: cid(&c),
                ordinal: reg.stored(&c).ordinal,
                kind,
                token: "tok".into(),
                brand: kind.brand().map(Into::into),
                previous_brand: None,
            }]
        );
        let d = reg.device(&c);
        assert_eq!(d.brand.as_deref(), kind.brand());
        assert_eq!(d.device_token_type, Some(kind));
        assert_eq!(d.getui_brand(), kind.brand().unwrap_or("unknown"));
    }
}

#[test]
fn bind_dt_wx_keeps_the_registered_brand() {
    let mut reg = Bench::new();
    let mp = DeviceUpsert {
        brand: Some("hw".into()),
        ..mini_program("mp")
    };
    reg.ok(&upsert(vec![mp], NOW));
    reg.ok(&bind_dt(DtType::Wx, vec![dt("mp", Some("openid"))]));
    assert_eq!(reg.device("mp").brand.as_deref(), Some("hw"));
    reg.ok(&bind_dt(DtType::Wx, vec![dt("mp", Some(""))]));
    let d = reg.device("mp");
    assert_eq!((d.device_token, d.brand.as_deref()), (None, Some("hw")));
}

#[test]
fn bind_dt_unbinds_only_the_token_of_its_own_channel_and_drops_the_brand_it_set() {
    // Getui bind_dt: device_token "传值表示绑定,不传或传空表示解绑"; docs/getui.md: a missing or
    // empty token "unbinds the token bound through that type (and is a no-op if the
    // cid's token came from elsewhere)"; Getui detail: "没有token的就是unknown".
    let mut reg = Bench::new();
    let native = DeviceUpsert {
        brand: Some("hw".into()),
        device_token: Some("native-token".into()),
        ..android("a")
    };
    reg.ok(&upsert(vec![native], NOW));
    // The token came from the native upsert, not from bind_dt/hw: nothing to unbind.
    let (failures, muts) = reg.ok(&bind_dt(DtType::Hw, vec![dt("a", None)]));
    assert_eq!((failures, muts), (vec![], vec![]));
    assert_eq!(
        reg.device("a").device_token.as_deref(),
        Some("native-token")
    );

    reg.ok(&bind_dt(DtType::Hw, vec![dt("a", Some("hw-token"))]));
    // Another channel's unbind leaves it.
    assert_eq!(reg.muts(&bind_dt(DtType::Xm, vec![dt("a", None)])), []);
    assert_eq!(reg.device("a").device_token.as_deref(), Some("hw-token"));
    // Its own channel's unbind (an empty token) clears it and the brand it set.
    let muts = reg.muts(&bind_dt(DtType::Hw, vec![dt("a", Some(""))]));
    assert_eq!(
        muts,
        [Mutation::DeviceTokenUnbound {
            cid: cid("a"),
            ordinal: 0,
            kind: DtType::Hw,
            brand: None,
            previous_brand: Some("hw".into()),
        }]
    );
    let d = reg.device("a");
    assert_eq!(d.getui_brand(), "unknown");
    assert_eq!(
        (d.device_token, d.device_token_type, d.brand),
        (None, None, None)
    );
    // Unbinding again is a no-op.
    assert_eq!(reg.muts(&bind_dt(DtType::Hw, vec![dt("a", None)])), []);
}

#[test]
fn bind_dt_rebinding_another_channel_moves_the_brand() {
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&bind_dt(DtType::Hw, vec![dt("a", Some("t1"))]));
    let muts = reg.muts(&bind_dt(DtType::Xm, vec![dt("a", Some("t2"))]));
    let [Mutation::DeviceTokenBound {
        brand,
        previous_brand,
        ..
    }] = muts.as_slice()
    else {
        panic!("{muts:?}")
    };
    assert_eq!(
        (brand.as_deref(), previous_brand.as_deref()),
        (Some("xm"), Some("hw"))
    );
    // The old channel can no longer unbind it.
    assert_eq!(reg.muts(&bind_dt(DtType::Hw, vec![dt("a", None)])), []);
    assert_eq!(reg.device("a").device_token_type, Some(DtType::Xm));
}

#[test]
fn bind_dt_of_the_same_cid_twice_applies_both_in_order() {
    let mut reg = Bench::new();
    reg.ok(&upsert(vec![mini_program("mp")], NOW));
    let (failures, muts) = reg.ok(&bind_dt(
        DtType::Wx,
        vec![dt("mp", Some("first")), dt("mp", Some("second"))],
    ));
    assert_eq!(failures, []);
    assert_eq!(names(&muts), ["DeviceTokenBound", "DeviceTokenBound"]);
    assert_eq!(reg.device("mp").device_token.as_deref(), Some("second"));
}

// ---- suspected bugs -------------------------------------------------------------------

#[test]
fn a_token_replaced_by_an_upsert_is_not_unbound_by_the_old_channel() {
    // docs/getui.md (bind_dt): "A missing or empty `device_token` unbinds the token bound
    // through that type (and is a no-op if the cid's token came from elsewhere)";
    // `Device::device_token_type`: "Channel the token was bound through, when bound by
    // `bind_dt`."
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&bind_dt(DtType::Hw, vec![dt("a", Some("hw-token"))]));
    let native = DeviceUpsert {
        device_token: Some("native-token".into()),
        ..android("a")
    };
    reg.ok(&upsert(vec![native], NOW + HOUR));
    let d = reg.device("a");
    assert_eq!(d.device_token.as_deref(), Some("native-token"));
    assert_ne!(
        d.device_token_type,
        Some(DtType::Hw),
        "the token no longer came through bind_dt/hw"
    );
    assert_eq!(reg.muts(&bind_dt(DtType::Hw, vec![dt("a", None)])), []);
    assert_eq!(
        reg.device("a").device_token.as_deref(),
        Some("native-token")
    );
}
