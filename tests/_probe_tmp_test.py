import time
from pathlib import Path
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")

def test_probe(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONSOLE_USER", "page-test")
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    print("EXC", at.exception)
    print("INFO", [i.value for i in at.info])
    at.switch_page("pages/documents.py").run()
    print("EXC", at.exception, [i.value for i in at.info], [b.label for b in at.button])
    t = time.time()
    at.button(key=None) if False else None
    [b for b in at.button if b.label.startswith("Load")][0].click().run()
    print("load took", time.time() - t, at.exception)
    print([ (e.type, getattr(e, "value", None)) for e in at.success][:10])
    df = at.dataframe
    print(len(df), df[0].value)
    print("FU", at.file_uploader)
    at.switch_page("pages/chat.py").run()
    t=time.time()
    at.chat_input[0].set_value("How long do refund links stay valid?").run()
    print("ask took", time.time()-t, at.exception)
    for m in at.chat_message:
        print("MSG", m.name, [getattr(c, "value", c.type) for c in m.children.values()])
