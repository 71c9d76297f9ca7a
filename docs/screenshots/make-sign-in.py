import sys, tempfile
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.accounts.demo import ensure_demo_accounts
from app.accounts.store import AccountStore
from app.chairs import FloorController
from app.floor import Floor
from app.store.journal import Journal
from app.ui.main_window import MainWindow
from app.ui.signin import SignInDialog
from app.ui.theme import apply_theme

app = QApplication(sys.argv)
apply_theme(app)
tmp = tempfile.mkdtemp()
floor = Floor(Journal(Path(tmp) / "s.sqlite"))
accounts = AccountStore(floor.journal)
ensure_demo_accounts(accounts)
controller = FloorController(floor, 6, accounts=accounts)
window = MainWindow(controller)
window.resize(1366, 768)
window.show()
dialog = SignInDialog(accounts, window)
dialog.show()
dialog.id_entry.setText("DEMO-BADGE-1")
dialog.identify()
dialog.pin_entry.setText("123456")
dialog.submit()
dialog.pin_entry.setText("12")
def shot():
    app.primaryScreen().grabWindow(0).copy(window.geometry()).save(sys.argv[1])
    print("saved", sys.argv[1])
    app.quit()
QTimer.singleShot(1500, shot)
app.exec()
