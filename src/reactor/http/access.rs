//! Who may ask: the listeners' ACLs (403), and the audit trail (`audit_enabled`) of what was
//! asked, refused or done, with its caller.

use super::{Peer, Servers, Service};
use crate::config::model::Level;
use crate::http::{Request, Response};
use crate::reactor::Reactor;
use crate::supervisor::Field;

impl Servers {
    /// One audit record (`audit_enabled`): `"audit":true`, the action, its target, the HTTP
    /// status it ended with, and the caller.
    pub(in crate::reactor) fn audit(
        &mut self,
        r: &mut Reactor<'_>,
        action: &str,
        target: &str,
        result: u16,
        peer: Peer,
    ) {
        if !r.config.global.audit {
            return;
        }
        let mut fields = vec![
            ("audit", Field::Bool(true)),
            ("action", Field::Str(action.to_owned())),
            ("target", Field::Str(target.to_owned())),
            ("result", Field::Int(result.into())),
        ];
        fields.extend(peer.fields());
        let level = if result < 400 {
            Level::Info
        } else {
            Level::Warn
        };
        let msg = [action, " ", target, ": ", result.to_string().as_str()].concat();
        r.out.event(level, None, "audit", &msg, &fields);
    }

    /// The audit record of a refused request (401, 403).
    pub(in crate::reactor) fn audit_refusal(
        &mut self,
        r: &mut Reactor<'_>,
        peer: Peer,
        req: &Request,
        resp: &Response,
    ) {
        let action = if resp.status == 401 {
            "auth.failure"
        } else {
            "acl.deny"
        };
        self.audit(r, action, &req.path, resp.status, peer);
    }

    /// 403 for a TCP client that the listener's ACL (`api_acl`, `metrics_acl`) keeps out.
    pub(super) fn acl_refusal(
        &mut self,
        r: &mut Reactor<'_>,
        service: Service,
        peer: Peer,
        req: &Request,
    ) -> Option<Response> {
        let Peer::Tcp(addr) = peer else { return None };
        let g = &r.config.global;
        let acl = match service {
            #[cfg(feature = "api")]
            Service::Api => g.api.as_ref().and_then(|a| a.acl.as_ref()),
            #[cfg(feature = "metrics")]
            Service::Metrics => g.metrics.as_ref().and_then(|m| m.acl.as_ref()),
        }?;
        // Behind a trusted proxy the client is the first X-Forwarded-For address.
        let forwarded = req
            .forwarded_for
            .as_deref()
            .filter(|_| acl.trust_proxy)
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.split(',').next())
            .and_then(|a| a.trim().parse().ok());
        if acl.allows(forwarded.unwrap_or(addr.ip())) {
            return None;
        }
        let resp = Response::error(403, "access denied: this address is not allowed (ACL)");
        self.audit_refusal(r, peer, req, &resp);
        Some(resp)
    }
}
