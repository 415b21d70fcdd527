//! Who is on the other end of a connection or request, as established from a verified JWT.
//!
//! Verification itself happens at the edge (chatbox-ws); this type is what the engine trusts.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// A role from the JWT `roles` claim that this service gives meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `admin`: may list all sessions, see metrics and take sessions over.
    Admin,
    /// `chat_admin`: same powers as `admin` within Chatbox.
    ChatAdmin,
}

impl Role {
    /// The role's spelling in the JWT.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ChatAdmin => "chat_admin",
        }
    }

    /// Every role that grants admin powers.
    pub const ADMIN_ROLES: [Role; 2] = [Role::Admin, Role::ChatAdmin];
}

/// An authenticated principal: a plain user or an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The JWT `user_id` claim.
    pub user_id: UserId,
    /// Display name: the JWT `name` claim, defaulting to the user id.
    pub name: String,
    /// The JWT `roles` claim, verbatim (roles we do not know are kept but grant nothing).
    pub roles: Vec<String>,
}

impl Identity {
    /// Builds an identity; an empty or missing `name` falls back to the user id.
    pub fn new(user_id: UserId, name: Option<String>, roles: Vec<String>) -> Self {
        let name = match name {
            Some(n) if !n.trim().is_empty() => n.trim().to_owned(),
            _ => user_id.as_str().to_owned(),
        };
        Self {
            user_id,
            name,
            roles,
        }
    }

    /// True when any role is `admin` or `chat_admin`.
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| Role::ADMIN_ROLES.iter().any(|a| a.as_str() == r))
    }

    /// True when the identity carries `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r == role.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn admin_roles_grant_admin_and_others_do_not() {
        assert!(Identity::new(uid("a"), None, vec!["admin".into()]).is_admin());
        assert!(Identity::new(uid("a"), None, vec!["x".into(), "chat_admin".into()]).is_admin());
        assert!(!Identity::new(uid("a"), None, vec!["Admin".into(), "staff".into()]).is_admin());
        assert!(!Identity::new(uid("a"), None, vec![]).is_admin());
        let chat_admin = Identity::new(uid("a"), None, vec!["chat_admin".into()]);
        assert!(chat_admin.has_role(Role::ChatAdmin));
        assert!(!chat_admin.has_role(Role::Admin));
    }

    #[test]
    fn name_defaults_to_user_id() {
        assert_eq!(Identity::new(uid("u7"), None, vec![]).name, "u7");
        assert_eq!(
            Identity::new(uid("u7"), Some("  ".into()), vec![]).name,
            "u7"
        );
        assert_eq!(
            Identity::new(uid("u7"), Some("Ana".into()), vec![]).name,
            "Ana"
        );
    }
}
