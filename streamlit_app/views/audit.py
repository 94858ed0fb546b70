"""Audit: recount MongoDB's vote log and compare it with every Redis counter, on demand."""

from __future__ import annotations

import streamlit as st

st.title("Audit")
st.info("The audit is not wired yet.")
