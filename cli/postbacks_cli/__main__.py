from postbacks_cli.main import app

app()
