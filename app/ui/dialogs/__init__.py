"""The chair view's dialogs: each builds one domain command and shows the domain's answer."""
