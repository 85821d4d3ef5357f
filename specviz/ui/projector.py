"""Projector mode: larger type everywhere (charts included), the sidebar collapsed, the round
and the player above the fold. It is kept across pages in the session and in the address
(`?projector=true`), so a link opens in it too.
"""

import plotly.graph_objects as go
import streamlit as st

from ..present.charts import look
from . import urlstate
from .memo import Memo

KEY, WIDGET = "sv_projector_on", "sv_projector"  # the mode; its toggle (a widget's own state does
# not survive a page switch: Streamlit drops it with the page that drew it)
SCHEMA = [urlstate.Bool("projector", False)]
CSS = """<style>
[data-testid=stMainBlockContainer]{max-width:none;padding:4.2rem 2.2rem 2rem !important}
.stMarkdown p,.stMarkdown li{font-size:1.45rem !important;line-height:1.5}
h1{font-size:2.5rem !important} h2,h3{font-size:1.95rem !important} h4{font-size:1.55rem !important}
[data-testid=stWidgetLabel] p,.stRadio label p,.stCheckbox label p{font-size:1.25rem !important}
[data-testid=stCaptionContainer],[data-testid=stCaptionContainer] p{font-size:1.15rem !important}
[data-testid=stMetricValue]{font-size:2.3rem !important}
[data-testid=stMetricLabel] p{font-size:1.15rem !important}
.stButton button p,.stPopover button p,[data-testid=stPageLink] p{font-size:1.2rem !important}
.sv-strip{font-size:1.75rem;line-height:2.7rem}
.card{min-width:8rem}.card .word{font-size:2.1rem}.card .num,.card .verdict{font-size:1.25rem}
.sv-caption{font-size:1.45rem}.sv-legend{font-size:1.2rem}
[data-baseweb=select] div,[data-baseweb=tag] span{font-size:1.2rem !important}
[data-testid=stTable] td,[data-testid=stTable] th{font-size:1.5rem !important;padding:.3rem .6rem !important}
.sv-tree{max-height:none}.sv-mask-title{font-size:1.2rem}
</style>"""


def on() -> bool:
    return bool(st.session_state.get(KEY, False))


def sync() -> None:
    """The address's projector flag comes in (a link), the session's goes out (every page)."""
    came = urlstate.incoming("projector", SCHEMA)
    if came is not None:
        st.session_state[KEY] = came["projector"]
    urlstate.publish("projector", SCHEMA, {"projector": on()})


def style() -> None:
    if on():
        st.html(CSS)


def _on_toggle() -> None:
    st.session_state[KEY] = st.session_state[WIDGET]


def toggle() -> None:
    st.session_state[WIDGET] = on()
    st.toggle("Projector mode", key=WIDGET, on_change=_on_toggle, help="Larger type (charts too), the sidebar folded away, "
              "the round and the player on the first screen, lessons one section at a time; kept "
              "on every page and in the address")


def table(rows, where=None, **dataframe) -> None:
    """Rows as a table: in projector mode a plain one, in the projector's type (a data frame
    draws on a canvas at the theme's small size), else an interactive data frame."""
    where = where or st
    if on():
        where.table(rows, hide_index=True)
    else:
        where.dataframe(rows, hide_index=True, **dataframe)


_SCALED = Memo(128)  # (figure, columns) -> its enlarged copy


def scaled(fig, columns: int = 2):
    """The figure for this session: in projector mode a copy at the projector's sizes for a chart
    in one of `columns` side by side (look.projector; shared figures are never changed), else
    the figure itself."""
    if not on() or not isinstance(fig, go.Figure):
        return fig
    return _SCALED.get(fig, columns, lambda: look.projector(fig, columns))
