"""Sign-in: nothing of the contest shows before an account signed in, when sign-in is on.

Streamlit does the OpenID Connect flow (``st.login`` redirects to the provider,
``st.logout`` ends the session there too); this module only decides what a
visitor sees: the sign-in page, or the app with their account and what they
may do in the sidebar. Open modes (no sign-in configured: this machine only,
or the cluster only) say so in the sidebar.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from certamen.results.access import Access, Account, may_replay
from streamlit_app import resources
from streamlit_app.reader import Reader


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is looking: how they got in, their account (when signed in), what they may do."""

    access: Access
    account: Account | None
    may_replay: bool


def visitor() -> Visitor:
    """The visitor of this session (pages ask; ``gate`` has already let them in)."""
    access = resources.access()
    account = _account() if access == "sign-in" and st.user.is_logged_in else None
    organisers = resources.settings().webapp.organisers
    return Visitor(access, account, may_replay(access, account, organisers))


def gate(reader: Reader) -> Visitor:
    """Stop at the sign-in page unless the visitor may see the app; then say who they are."""
    texts = reader.texts.access
    current = visitor()
    if current.access == "sign-in" and current.account is None:
        st.title(texts.sign_in_title)
        st.write(texts.sign_in_prompt)
        st.button(texts.sign_in_button, type="primary", on_click=st.login, key="sign_in")
        st.stop()
    with st.sidebar:
        if current.account is not None:
            st.markdown(texts.signed_in_as.format(account=current.account.shown))
            st.caption(texts.role_organiser if current.may_replay else texts.role_viewer)
            st.button(texts.sign_out_button, on_click=st.logout, key="sign_out")
        else:
            st.caption(texts.open_local if current.access == "open-local" else texts.open_cluster)
    return current


def _account() -> Account:
    email, verified, name = (st.user.get(claim) for claim in ("email", "email_verified", "name"))
    return Account(
        email=email if isinstance(email, str) else None,
        email_verified=verified if isinstance(verified, bool) else None,
        name=name if isinstance(name, str) else None,
    )
