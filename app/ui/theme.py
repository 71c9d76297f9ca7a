"""Large type and calm colours, readable at arm's length. One stylesheet for the whole app."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

BASE_POINT_SIZE = 13

STYLESHEET = """
QWidget { font-size: 13pt; }
QPushButton { padding: 6px 8px; border: 1px solid #8a96a3; border-radius: 6px; background: #f4f6f8; }
QPushButton:disabled { color: #9aa3ad; border-color: #d0d5da; }
QPushButton#primaryButton { background: #1f5fbf; color: white; font-weight: bold; border-color: #174a94; }
QPushButton#overrideButton { background: #8a4b00; color: white; font-weight: bold; }
QPushButton#reactionButton { background: #b00020; color: white; font-weight: bold; font-size: 16pt;
                             border-color: #7a0016; }
QPushButton#reactionButton:disabled { background: #e8c2c8; color: #ffffff; }
QPushButton#nextAction { font-size: 24pt; font-weight: bold; padding: 14px; background: #1f5fbf;
                         color: white; border-radius: 10px; border: 2px solid #174a94; }
QPushButton#nextAction[waiting="true"] { background: #eef3fa; color: #0b3a66; border: 2px solid #9fb8da; }
QPushButton#nextAction[urgent="true"] { background: #d0021b; color: white; border: 3px solid #7a0016; }
QPushButton#backButton { font-size: 14pt; }
QLabel#chairTitle { font-size: 20pt; font-weight: bold; }
QLabel#phaseWord { font-size: 22pt; font-weight: bold; }
QLabel#linkLabel { font-size: 13pt; padding-right: 18px; }
QLabel#instruction { font-size: 26pt; font-weight: bold; color: white; background: #d0021b;
                     border-radius: 10px; padding: 10px; }
QFrame#panel { background: #f7f8fa; border: 1px solid #d0d5da; border-radius: 8px; }
QLabel#countdownName { font-size: 14pt; color: #3c4148; }
QLabel#countdownValue { font-size: 16pt; font-weight: bold; }
QLabel#countdownValue[overdue="true"] { color: #b00020; }
QLabel#pumpRate { font-size: 22pt; font-weight: bold; }
QLabel#pumpDetail { font-size: 13pt; }
QLabel#chairAlarm { font-size: 14pt; }
QLabel#sectionHeading { font-size: 15pt; font-weight: bold; }
QListView#timeline { font-size: 12pt; }
QLabel#tileName { font-size: 19pt; font-weight: bold; }
QLabel#tilePatient { font-size: 19pt; font-weight: bold; }
QLabel#tileLink { font-size: 12pt; }
QLabel#tilePhase { font-size: 18pt; font-weight: bold; }
QLabel#tileProtocol { font-size: 12pt; }
QLabel#tileRate { font-size: 15pt; font-weight: bold; }
QLabel#tileNext { font-size: 14pt; }
QLabel#tileAlarm { font-size: 13pt; }
QFrame#chairTile[roomy="true"] QLabel#tileName { font-size: 26pt; }
QFrame#chairTile[roomy="true"] QLabel#tilePatient { font-size: 26pt; }
QFrame#chairTile[roomy="true"] QLabel#tilePhase { font-size: 26pt; }
QFrame#chairTile[roomy="true"] QLabel#tileProtocol { font-size: 15pt; }
QFrame#chairTile[roomy="true"] QLabel#tileRate { font-size: 21pt; }
QFrame#chairTile[roomy="true"] QLabel#tileNext { font-size: 19pt; }
QFrame#chairTile[roomy="true"] QLabel#tileAlarm { font-size: 17pt; }
QFrame#chairTile[roomy="true"] QProgressBar { font-size: 15pt; }
QFrame#chairTile[dense="true"] QLabel#tileName { font-size: 16pt; }
QFrame#chairTile[dense="true"] QLabel#tilePatient { font-size: 16pt; }
QFrame#chairTile[dense="true"] QLabel#tilePhase { font-size: 15pt; }
QFrame#chairTile[dense="true"] QLabel#tileProtocol { font-size: 11pt; }
QFrame#chairTile[dense="true"] QLabel#tileRate { font-size: 13pt; }
QFrame#chairTile[dense="true"] QLabel#tileNext { font-size: 12pt; }
QFrame#chairTile[dense="true"] QLabel#tileAlarm { font-size: 12pt; }
QLabel#ctName { font-size: 13pt; font-weight: bold; }
QLabel#ctInitials { font-size: 13pt; font-weight: bold; }
QLabel#ctLink { font-size: 11pt; }
QLabel#ctPhase { font-size: 13pt; font-weight: bold; }
QLabel#ctPump { font-size: 12pt; }
QLabel#ctNext { font-size: 11pt; }
QLabel#ctAlarm { font-size: 11pt; }
QLabel#boardHeading { font-size: 13pt; font-weight: bold; color: #1c2833; border-bottom: 2px solid #9aa3ad; }
QLabel#boardHeading[stale="true"] { color: #6e0f0f; border-bottom: 2px dashed #6e0f0f; }
QLabel#brokerState { font-size: 13pt; font-weight: bold; }
QLabel#brokerState[problem="true"] { color: #b00020; }
QFrame#escalatedPanel { background: #fdecea; border: 2px solid #b00020; border-radius: 6px; }
QLabel#escalatedLine { font-size: 12pt; font-weight: bold; color: #6e0f0f; }
QLabel#dialogHeading { font-size: 20pt; font-weight: bold; }
QFrame#refusal { background: #fdecea; border: 2px solid #b00020; border-radius: 8px; }
QLabel#refusalText { font-size: 14pt; color: #6e0f0f; }
QLabel#eligibility[ok="true"] { color: #0d4d1f; font-weight: bold; }
QLabel#eligibility[ok="false"] { color: #b00020; font-weight: bold; }
QLabel#concentration[ok="true"], QLabel#gtinCheck[ok="true"], QLabel#recordReactions[ok="true"],
QLabel#doseCheck[ok="true"] { color: #0d4d1f; font-weight: bold; }
QLabel#concentration[ok="false"], QLabel#gtinCheck[ok="false"], QLabel#recordReactions[ok="false"],
QLabel#doseCheck[ok="false"] { color: #b00020; font-weight: bold; }
QLabel#smallNote { font-size: 11pt; color: #3c4148; }
QLabel#gradeWording { font-size: 12pt; }
QLabel#onsetRate { font-size: 15pt; font-weight: bold; }
QListWidget#screeningList { font-size: 11pt; }
QLabel#crossCheck { font-size: 13pt; color: #b00020; font-weight: bold; }
QLabel#notification { font-size: 14pt; color: #0a4a52; }
QLabel#nurseAssigned { font-size: 13pt; padding-right: 18px; }
QLabel#nurseLabel { font-size: 15pt; font-weight: bold; }
QLabel#clockLabel { font-size: 18pt; font-weight: bold; }
QLabel#floorMessage { font-size: 13pt; color: #6e0f0f; }
"""


def apply_theme(app: QApplication) -> None:
    font = QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
