from docservice.cli import main

main()
