from pagecols.entry import main

main()
