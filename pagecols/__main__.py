from pagecols.cli import main

main()
