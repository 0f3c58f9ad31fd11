from smshook.cli import main

main()
